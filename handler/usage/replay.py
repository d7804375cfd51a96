"""Drain the fallback queue into the usage table, idempotently.

Each queued record goes through the same exactly-once write as a live request, so a record
that did reach DynamoDB before its fallback is skipped as a duplicate. A message is deleted
only after its record is in the table; one that fails stays for the next run (or the DLQ).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from handler.records import UsageRecord
from handler.usage.fallback import UsageQueue
from handler.usage.writer import RecordExpiredError, RecordHeldError, RecordWriter

log = logging.getLogger("handler.usage")


@dataclass
class ReplayReport:
    written: int = 0
    duplicates: int = 0
    failed: int = 0
    malformed: int = 0
    expired: int = 0  # older than the usage TTL: left for a person (see writer.py)
    held: int = 0  # could count twice another way (stream_ledger.StampedRecordError): left too


def replay(
    queue: UsageQueue, writer: RecordWriter, max_batches: int = 1000, wait_seconds: int = 1
) -> ReplayReport:
    """Write every queued record; stop when the queue answers empty."""
    report = ReplayReport()
    for _ in range(max_batches):
        messages = queue.receive(10, wait_seconds)
        if not messages:
            break
        for receipt, body in messages:
            try:
                record = UsageRecord.from_json(body)
            except ValueError:
                report.malformed += 1  # left for the DLQ, where a person can look at it
                continue
            try:
                outcome = writer.write(record)
            except RecordExpiredError:
                report.expired += 1  # left for the DLQ
                continue
            except RecordHeldError:
                report.held += 1  # left for the DLQ
                continue
            except (BotoCoreError, ClientError) as exc:
                report.failed += 1
                log.warning(
                    json.dumps(
                        {
                            "event": "usage_replay_failed",
                            "error": type(exc).__name__,
                            "request_id": record.request_id,
                        }
                    )
                )
                continue
            queue.delete(receipt)
            if outcome == "written":
                report.written += 1
            else:
                report.duplicates += 1
    return report
