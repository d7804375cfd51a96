"""Record a successful request's usage: the ledger first (DynamoDB, or the Kinesis stream),
the SQS queue if that fails.

Failure policy: never raises. The client already has its embeddings; a record DynamoDB
refuses (after botocore's bounded retries) goes to the fallback queue and to one structured
log line carrying the whole record, so `replay` (or the logs) can restore it. Records hold
ids and counts only: no key, key hash or input text.

The log line's event says where the record is: "usage_fallback" (WARNING) when the queue has
it, LOST_EVENT (ERROR) when it reached neither DynamoDB nor the queue. template.yaml counts
LOST_EVENT lines with a metric filter and alarms on them; `cli replay-logs` writes the records
of such lines back, idempotently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Literal

from handler.records import UsageRecord
from handler.usage.fallback import UsageQueue
from handler.usage.store import error_code
from handler.usage.stream_ledger import StreamPutError
from handler.usage.writer import GROUP_RECORDS, LedgerWriter

log = logging.getLogger("handler.usage")

RecordOutcome = Literal["written", "duplicate", "queued", "logged"]
FALLBACK_EVENT = "usage_fallback"
LOST_EVENT = "usage_record_lost"  # template.yaml's UsageRecordsLost filter matches this term


def _reason(exc: BaseException) -> str:
    return error_code(exc) or type(exc).__name__


class UsageRecorder:
    def __init__(self, writer: LedgerWriter, queue: UsageQueue | None) -> None:
        self.writer = writer
        self.queue = queue

    def __call__(self, record: UsageRecord) -> RecordOutcome:
        try:
            return self.writer.write(record)
        except StreamPutError as exc:  # kept as stamped: its replay is then idempotent
            return self._keep(exc.record, _reason(exc.__cause__ or exc))
        except Exception as exc:  # DynamoDB's errors, and any other: the record is kept below
            return self._keep(record, _reason(exc))

    def record_many(self, records: Sequence[UsageRecord]) -> list[RecordOutcome]:
        """Many records (a batch's lines) in groups of one key and day; a group DynamoDB
        refuses goes record by record to the queue, like a single record."""
        groups: dict[tuple[str, str], list[int]] = {}
        for at, record in enumerate(records):
            groups.setdefault((record.key_id, record.day), []).append(at)
        outcomes: list[RecordOutcome] = ["logged"] * len(records)
        for members in groups.values():
            for start in range(0, len(members), GROUP_RECORDS):
                chunk = members[start : start + GROUP_RECORDS]
                written: list[RecordOutcome]
                try:
                    written = list(self.writer.write_group([records[at] for at in chunk]))
                except Exception as exc:  # as in __call__: each record is kept below
                    written = [self._keep(records[at], _reason(exc)) for at in chunk]
                for at, outcome in zip(chunk, written, strict=True):
                    outcomes[at] = outcome
        return outcomes

    def _keep(self, record: UsageRecord, reason: str) -> RecordOutcome:
        """The queue, else the log, for a record DynamoDB refused."""
        outcome: RecordOutcome = "logged"
        if self.queue is not None:
            try:
                self.queue.send(record.to_json())
                outcome = "queued"
            except Exception as exc:
                reason = f"{reason}; queue: {_reason(exc)}"
        queued = outcome == "queued"
        level = logging.WARNING if queued else logging.ERROR
        event = FALLBACK_EVENT if queued else LOST_EVENT
        line = {"event": event, "outcome": outcome, "reason": reason}
        log.log(level, json.dumps({**line, "record": asdict(record)}, sort_keys=True))
        return outcome
