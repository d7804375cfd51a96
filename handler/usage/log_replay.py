"""Recover usage records from log lines: the records that reached neither DynamoDB nor the
queue live only in the recorder's log line (recorder.LOST_EVENT).

Each line may be a Lambda text-format line (`[ERROR]\t<time>\t<request id>\t{...}`), a JSON-
format line whose "message" holds the recorder's JSON, or `aws logs` / `sam logs` output with
a prefix; the first JSON object carrying a usage record is taken. Every record goes through
the same exactly-once write as the queue's replay, so replaying a log twice, or a record that
did land, counts nothing twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler.records import UsageRecord
from handler.usage.recorder import FALLBACK_EVENT, LOST_EVENT
from handler.usage.replay import ReplayReport
from handler.usage.writer import RecordExpiredError, RecordHeldError, RecordWriter

log = logging.getLogger("handler.usage")

EVENTS = (LOST_EVENT, FALLBACK_EVENT)  # a queued record is in the queue too; harmless again
_DECODER = json.JSONDecoder()
_MAX_OBJECTS_TRIED = 8  # "{" positions tried per line before it counts as no record


def _event(found: Any, depth: int = 0) -> dict[str, Any] | None:
    """The recorder's event dict in `found`, looking into a JSON-format line's "message"."""
    if not isinstance(found, dict) or depth > 1:
        return None
    if found.get("event") in EVENTS and "record" in found:
        return found
    message = found.get("message")
    if isinstance(message, str) and "{" in message:
        return _first_event(message, depth + 1)
    return None


def _first_event(text: str, depth: int = 0) -> dict[str, Any] | None:
    start = text.find("{")
    for _ in range(_MAX_OBJECTS_TRIED):
        if start < 0:
            return None
        try:
            found, _end = _DECODER.raw_decode(text, start)
        except ValueError:
            found = None
        event = _event(found, depth)
        if event is not None:
            return event
        start = text.find("{", start + 1)
    return None


def record_from_line(line: str) -> UsageRecord | None:
    """The usage record a log line carries; None for a line that carries none. Raises
    ValueError for a recorder line whose record is malformed."""
    if LOST_EVENT not in line and FALLBACK_EVENT not in line:
        return None  # cheap skip for the other lines of a log
    event = _first_event(line)
    if event is None:
        return None
    return UsageRecord.from_json(json.dumps(event["record"]))


def replay_lines(lines: Iterable[str], writer: RecordWriter) -> ReplayReport:
    """Write the record of every recorder line; the report counts what happened to each."""
    report = ReplayReport()
    for line in lines:
        try:
            record = record_from_line(line)
        except ValueError:
            report.malformed += 1
            continue
        if record is None:
            continue
        try:
            outcome = writer.write(record)
        except RecordExpiredError:
            report.expired += 1
            continue
        except RecordHeldError:
            report.held += 1
            continue
        except (BotoCoreError, ClientError) as exc:
            report.failed += 1
            line_out = {"event": "usage_log_replay_failed", "request_id": record.request_id}
            log.warning(json.dumps({**line_out, "error": type(exc).__name__}))
            continue
        if outcome == "written":
            report.written += 1
        else:
            report.duplicates += 1
    return report
