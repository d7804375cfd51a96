"""Day aggregates from the Kinesis usage ledger (handler/usage/stream_ledger.py), exactly once.

A batch is one shard's records in order. Two watermarks make each record count once:
  - per producer (a container's id; item PRODUCER#<id>): the highest record number counted.
    A record counts only when its number is above it, which drops the second copy of a put
    botocore retried, a late first copy, and a replayed record that was counted. A producer's
    records all go to one shard (its id is the partition key), and Lambda reads a parent
    shard before its children, so one producer's records arrive in order even across a
    reshard.
  - per (key, day, shard): the day item's `seq`, as the DynamoDB-stream aggregator keeps it
    (handler/usage/aggregator.py), which makes a batch delivered again add nothing twice.
The day items are updated first and the producers' watermarks last: a crash between them
leaves the old watermarks, so the batch delivered again makes the same choices and the day
items' `seq` skips what was added. Cost per batch: one read unit per producer in it, one write
unit per producer and one per (key, day): not per request.

Failure policy: DynamoDB errors propagate (the event source mapping retries and bisects the
batch; both watermarks make that safe). A record that is not a stamped usage record (only
our functions can put) is logged and skipped: raising would stop the shard for good.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from handler.records import UsageRecord
from handler.usage.aggregator import COUNTS, Entry, StreamAggregator
from handler.usage.store import PK, SK, TTL_ATTRIBUTE, Client, error_code

if TYPE_CHECKING:
    from handler.settings import Settings

log = logging.getLogger("handler.usage")

SEQUENCE_DIGITS = 130  # Kinesis sequence numbers: decimal strings of up to 129 digits
READ_KEYS = 100  # BatchGetItem's most keys a call
READ_ATTEMPTS = 5  # calls per chunk while DynamoDB leaves keys unprocessed
MALFORMED_EVENT = "usage_stream_record_skipped"


def producer_key(producer: str) -> dict[str, Any]:
    return {PK: {"S": f"PRODUCER#{producer}"}, SK: {"S": "SEQ"}}


def shard_of(event_record: dict[str, Any]) -> str:
    """The shard id of a Lambda Kinesis event record ("shardId-000000000000:<sequence>")."""
    return str(event_record["eventID"]).partition(":")[0]


def lambda_record(shard: str, sequence: str, partition_key: str, data: bytes) -> dict[str, Any]:
    """A stream record as Lambda's Kinesis event delivers it (the fields `decode` reads):
    for the records an operator reads by hand (stream_drain.py) and the bench's."""
    return {
        "eventSource": "aws:kinesis",
        "eventID": f"{shard}:{sequence}",
        "kinesis": {
            "sequenceNumber": sequence,
            "partitionKey": partition_key,
            "data": base64.b64encode(data).decode(),
        },
    }


def decode(event_record: dict[str, Any]) -> tuple[str, UsageRecord] | None:
    """(padded sequence number, stamped record); None (logged) for anything else."""
    kinesis = event_record.get("kinesis") or {}
    sequence = str(kinesis.get("sequenceNumber", ""))
    try:
        record = UsageRecord.from_json(base64.b64decode(kinesis["data"]).decode())
        if record.producer is None or record.producer_seq < 1 or not sequence.isdigit():
            raise ValueError("not stamped by a producer")
    except (KeyError, ValueError) as exc:
        line = {"event": MALFORMED_EVENT, "sequence": sequence[:SEQUENCE_DIGITS], "error": str(exc)}
        log.error(json.dumps(line)[:1000])
        return None
    return sequence.zfill(SEQUENCE_DIGITS), record


class StreamCounter:
    """Counts one shard's batch of ledger records into the day items, once."""

    def __init__(
        self,
        client: Client,
        table: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.table = table
        self.ttl_seconds = ttl_seconds  # a watermark outlives every replay the writer accepts
        self.clock = clock
        self.sleep = sleep
        self.days = StreamAggregator(client, table)

    @classmethod
    def from_settings(cls, client: Client, settings: Settings) -> StreamCounter:
        """The deployment's usage table; watermarks kept as long as its request items (the
        aggregator function, the operator's CLI)."""
        return cls(client, settings.usage_table, settings.usage_ttl_days * 86400)

    def apply(self, event_records: Sequence[dict[str, Any]]) -> int:
        """Count the batch's records not counted yet; returns how many were."""
        if not event_records:
            return 0
        shard = shard_of(event_records[0])
        decoded = sorted(
            (found for found in map(decode, event_records) if found is not None),
            key=lambda found: found[0],
        )
        marks = self._watermarks({record.producer or "" for _, record in decoded})
        moved: dict[str, int] = {}
        groups: dict[tuple[str, str], list[Entry]] = {}
        for sequence, record in decoded:
            producer = record.producer or ""
            if record.producer_seq <= marks.get(producer, 0):
                continue  # a second copy, or a replay of a counted record
            marks[producer] = moved[producer] = record.producer_seq
            counts = [int(getattr(record, name)) for name in COUNTS]
            groups.setdefault((record.key_id, record.day), []).append((sequence, counts))
        counted = sum(
            self.days.add(key_id, day, shard, entries) for (key_id, day), entries in groups.items()
        )
        self._advance(moved)
        return counted

    def _watermarks(self, producers: Iterable[str]) -> dict[str, int]:
        """Each producer's highest counted record number (consistent reads)."""
        marks: dict[str, int] = {}
        wanted = sorted(producers)
        for start in range(0, len(wanted), READ_KEYS):
            keys = [producer_key(p) for p in wanted[start : start + READ_KEYS]]
            for attempt in range(READ_ATTEMPTS):
                response = self.client.batch_get_item(
                    RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
                )
                for item in response.get("Responses", {}).get(self.table, []):
                    producer = item[PK]["S"].removeprefix("PRODUCER#")
                    marks[producer] = int(item["n"]["N"])
                keys = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if not keys:
                    break
                self.sleep(0.05 * 2**attempt)
            else:
                raise RuntimeError("DynamoDB left producer watermarks unread")
        return marks

    def _advance(self, moved: dict[str, int]) -> None:
        expires = str(int(self.clock()) + self.ttl_seconds)
        for producer, number in sorted(moved.items()):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=producer_key(producer),
                    UpdateExpression="SET n = :n, #ttl = :ttl",
                    ConditionExpression="attribute_not_exists(n) OR n < :n",
                    ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                    ExpressionAttributeValues={":n": {"N": str(number)}, ":ttl": {"N": expires}},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise  # a watermark already past this batch is fine
