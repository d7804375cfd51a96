"""The Kinesis usage ledger (USAGE_LEDGER_STREAM set): a request's record is one PutRecord.

Why: a DynamoDB item costs one write unit ($0.625 per million); a Kinesis record of up to 25 KB
costs one PUT payload unit ($0.014 per million) and is replicated across three AZs before the
put returns, so the record is as durable as the item before the answer (docs/cost.md prices
both, with the stream's fixed shard-hours). handler/usage/stream_counter.py counts the records
into the same day items, once.

Exactly once, as an idempotent producer does it (Kafka's producer id and sequence): each
container is a producer with a random id, and numbers its records 1, 2, 3... It puts record
n+1 only after record n's put returned, under one lock, with the producer id as partition key
(one shard) and `SequenceNumberForOrdering` set to record n's sequence number, so the first
copy of each record precedes the next record in the shard. botocore's retries of a put send
the same (producer, n): a retry whose first try did land is a second copy, and the counter
counts a record only when n is above the producer's watermark.

A put that fails after its retries may still have landed. The record (stamped with its
producer and n) goes to the fallback queue or the log as usual, and the producer retires its
id: it never puts again under it, so the watermark of that id can only move when a copy of
that last record is counted. A replay of the record puts it again under the same id and n,
and it counts only if no copy did.

Records without a producer (a batch's lines, and records queued by a DynamoDB-ledger
deployment) keep the DynamoDB ledger (`writer`).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from handler.records import UsageRecord
from handler.usage.store import Client
from handler.usage.writer import (
    LedgerWriter,
    RecordHeldError,
    RecordWriter,
    UsageWriter,
    WriteOutcome,
)

if TYPE_CHECKING:
    from handler.settings import Settings

PRODUCER_ID_BYTES = 12  # 96 random bits a container: ids never meet


def new_producer_id() -> str:
    return secrets.token_urlsafe(PRODUCER_ID_BYTES)


class StreamPutError(RuntimeError):
    """A put that failed after botocore's retries; `record` is the record as stamped, which is
    what the fallback must keep (its producer and n make the replay idempotent)."""

    def __init__(self, record: UsageRecord) -> None:
        super().__init__(f"usage record {record.request_id} not put on the stream")
        self.record = record


def put_record(client: Client, stream: str, record: UsageRecord, after: str | None) -> str:
    """Put a stamped record, partitioned by its producer; returns its sequence number."""
    assert record.producer is not None
    request: dict[str, Any] = {
        "StreamName": stream,
        "Data": record.to_json().encode(),
        "PartitionKey": record.producer,
    }
    if after is not None:
        request["SequenceNumberForOrdering"] = after
    return str(client.put_record(**request)["SequenceNumber"])


class StreamLedger:
    """The live path: stamps and puts each request's record; batch lines go to `writer`."""

    def __init__(
        self,
        client: Client,
        stream: str,
        writer: UsageWriter,
        new_producer: Callable[[], str] = new_producer_id,
    ) -> None:
        self.client = client
        self.stream = stream
        self.writer = writer
        self._new_producer = new_producer
        self._lock = threading.Lock()
        self._producer = new_producer()
        self._next = 1
        self._last_sequence: str | None = None

    def write(self, record: UsageRecord) -> WriteOutcome:
        """Stamp a request's record with this producer and its next n, and put it. "written"
        means on the stream (whether a copy: the counter decides). Raises StreamPutError."""
        with self._lock:
            stamped = replace(record, producer=self._producer, producer_seq=self._next)
            try:
                self._last_sequence = put_record(
                    self.client, self.stream, stamped, self._last_sequence
                )
            except Exception as exc:
                self._retire()
                raise StreamPutError(stamped) from exc
            self._next += 1
        return "written"

    def write_group(self, records: Sequence[UsageRecord]) -> list[WriteOutcome]:
        """A batch's lines: the DynamoDB ledger's group transaction."""
        return self.writer.write_group(records)

    def _retire(self) -> None:
        """A new producer id: the old one's last record may or may not be on the stream."""
        self._producer = self._new_producer()
        self._next = 1
        self._last_sequence = None


class StampedRecordError(RecordHeldError):
    """A record the Kinesis ledger stamped, replayed where no ledger stream is configured
    (the stack went back to the DynamoDB ledger): its put may have been counted from the
    stream, so writing it by request id could count it twice."""


class StampedRecordGuard:
    """The replay's writer under the DynamoDB ledger: unstamped records as ever, stamped
    ones held (StampedRecordError)."""

    def __init__(self, writer: UsageWriter) -> None:
        self.writer = writer

    def write(self, record: UsageRecord) -> WriteOutcome:
        if record.producer is not None:
            raise StampedRecordError(
                f"record {record.request_id} was put on a ledger stream; none is configured"
            )
        return self.writer.write(record)


class StreamReplayWriter:
    """The replay path (queue, logs): a stamped record is put again as it was stamped (the
    counter drops it if a copy was counted); an unstamped one (a batch line, or a record of a
    DynamoDB-ledger deployment) goes through the DynamoDB ledger, exactly once by request id."""

    def __init__(self, client: Client, stream: str, writer: UsageWriter) -> None:
        self.client = client
        self.stream = stream
        self.writer = writer

    def write(self, record: UsageRecord) -> WriteOutcome:
        """Raises RecordExpiredError for a record older than the usage TTL (its producer's
        watermark may be gone), and botocore's errors as they come."""
        if record.producer is None:
            return self.writer.write(record)
        self.writer.check_age(record)
        put_record(self.client, self.stream, record, None)
        return "written"


def ledger_writer(
    settings: Settings, dynamodb: Client, kinesis: Callable[[], Client]
) -> LedgerWriter:
    """The recorder's ledger for these settings; `kinesis` builds the stream's client."""
    writer = UsageWriter.from_settings(dynamodb, settings)
    if not settings.usage_ledger_stream:
        return writer
    return StreamLedger(kinesis(), settings.usage_ledger_stream, writer)


def replay_writer(
    settings: Settings, dynamodb: Client, kinesis: Callable[[], Client]
) -> RecordWriter:
    """The replay's writer for these settings (queue, logs)."""
    writer = UsageWriter.from_settings(dynamodb, settings)
    if not settings.usage_ledger_stream:
        return StampedRecordGuard(writer)
    return StreamReplayWriter(kinesis(), settings.usage_ledger_stream, writer)
