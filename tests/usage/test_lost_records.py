"""A lost record is loud and recoverable: a record that reached neither DynamoDB nor the queue
is one ERROR line the template's metric filter counts, and `cli replay-logs` writes it back
from CloudWatch log lines, idempotently. Records older than the TTL are refused everywhere.
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import pytest

from handler.records import UsageRecord
from handler.usage import cli
from handler.usage.fallback import SqsUsageQueue
from handler.usage.log_replay import record_from_line, replay_lines
from handler.usage.recorder import LOST_EVENT, UsageRecorder
from handler.usage.replay import replay
from handler.usage.writer import RecordExpiredError, UsageWriter
from tests.usage.test_exactly_once import make_record, table_totals
from tests.usage.usage_support import Faults, Tables

DAY = 86400


def lose(tables: Tables, record: UsageRecord, caplog: pytest.LogCaptureFixture) -> str:
    """Record with DynamoDB timing out and no queue; the recorder's log message."""
    faults = Faults(tables.client, "TransactWriteItems", ["timeout"] * 3)
    writer = UsageWriter(tables.client, tables.usage, ttl_seconds=90 * DAY)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="handler.usage"):
        assert UsageRecorder(writer, None)(record) == "logged"
    faults.plan()  # DynamoDB is back
    (line,) = [r for r in caplog.records if r.name == "handler.usage"]
    assert line.levelno == logging.ERROR
    return line.getMessage()


def as_cloudwatch(
    message: str, request_id: str = "8f5c2a8e-0000-4000-8000-000000000001"
) -> list[str]:
    """The same message as the python3.13 runtime writes it in each log format, and as
    `aws logs tail` prints it."""
    stamp = "2026-11-30T04:00:00.123Z"
    text = f"[ERROR]\t{stamp}\t{request_id}\t{message}"
    json_format = json.dumps(
        {
            "timestamp": stamp,
            "level": "ERROR",
            "message": message,
            "logger": "handler.usage",
            "requestId": request_id,
        }
    )
    tail = f"{stamp} 2026/11/30/[$LATEST]0123456789abcdef {text}"
    return [text, json_format, tail]


@pytest.mark.unit
def test_a_lost_record_is_one_error_line_naming_the_lost_event(
    moto_tables: Tables, caplog: pytest.LogCaptureFixture
) -> None:
    record = make_record(tokens=9)
    message = lose(moto_tables, record, caplog)
    line = json.loads(message)
    assert (line["event"], line["outcome"]) == (LOST_EVENT, "logged")
    assert line["reason"] == "ReadTimeoutError"
    assert table_totals(moto_tables)["requests"] == 0


@pytest.mark.unit
def test_a_queued_record_does_not_look_lost(
    moto_tables: Tables, queue: SqsUsageQueue, caplog: pytest.LogCaptureFixture
) -> None:
    Faults(moto_tables.client, "TransactWriteItems", ["timeout"] * 3)
    writer = UsageWriter(moto_tables.client, moto_tables.usage, ttl_seconds=90 * DAY)
    with caplog.at_level(logging.WARNING, logger="handler.usage"):
        assert UsageRecorder(writer, queue)(make_record()) == "queued"
    message = caplog.records[-1].getMessage()
    assert LOST_EVENT not in message  # the alarm's filter term
    assert json.loads(message)["event"] == "usage_fallback"


@pytest.mark.unit
def test_the_record_is_read_back_from_every_log_format(
    moto_tables: Tables, caplog: pytest.LogCaptureFixture
) -> None:
    record = make_record(tokens=4)
    for line in as_cloudwatch(lose(moto_tables, record, caplog)):
        assert record_from_line(line) == record
    assert record_from_line("START RequestId: abc Version: $LATEST") is None
    assert record_from_line('[INFO]\t...\t{"event": "usage_record_lost"}') is None  # no record
    with pytest.raises(ValueError):
        record_from_line('{"event": "usage_record_lost", "record": {"request_id": "x"}}')


@pytest.mark.unit
def test_cli_replay_logs_writes_lost_records_once(
    moto_tables: Tables,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("KEYS_TABLE", moto_tables.keys)
    monkeypatch.setenv("USAGE_TABLE", moto_tables.usage)
    lost = [make_record(tokens=10 + n, inputs=1 + n) for n in range(3)]
    lines = ["START RequestId: 1 Version: $LATEST"]
    for n, record in enumerate(lost):
        lines.append(as_cloudwatch(lose(moto_tables, record, caplog))[n % 3])
        lines.append("END RequestId: 1")
    lines.append('[ERROR]\t...\t{"event": "usage_record_lost", "record": {"request_id": 1}}')
    log_file = tmp_path / "lost.log"
    log_file.write_text("\n".join(lines) + "\n")

    def run(*argv: str, stdin: str = "") -> tuple[int, str]:
        out = io.StringIO()
        code = cli.main(list(argv), out=out, dynamodb=moto_tables.client, stdin=io.StringIO(stdin))
        return code, out.getvalue()

    code, out = run("replay-logs", str(log_file))
    assert out.strip() == "written 3, already there 0, failed 0, malformed 1, expired 0, held 0"
    assert code == 1  # the malformed line is left for a person
    code, out = run("replay-logs", stdin=log_file.read_text())  # again, from stdin
    assert out.startswith("written 0, already there 3")
    totals = table_totals(moto_tables)
    assert totals == {
        "requests": 3,
        "inputs": sum(r.inputs for r in lost),
        "total_tokens": sum(r.total_tokens for r in lost),
        "request_items": 3,
        "request_ids": 3,
    }


@pytest.mark.unit
def test_a_record_older_than_the_ttl_is_refused_by_every_replay(
    moto_tables: Tables, queue: SqsUsageQueue, caplog: pytest.LogCaptureFixture
) -> None:
    record = make_record(tokens=6)
    message = lose(moto_tables, record, caplog)
    later = time.time() + 91 * DAY  # its request item (90-day TTL) may be gone by now
    writer = UsageWriter(moto_tables.client, moto_tables.usage, 90 * DAY, clock=lambda: later)
    with pytest.raises(RecordExpiredError):
        writer.write(record)
    report = replay_lines(as_cloudwatch(message)[:1], writer)
    assert (report.written, report.expired) == (0, 1)
    queue.send(record.to_json())
    from_queue = replay(queue, writer, wait_seconds=0)
    assert (from_queue.written, from_queue.expired) == (0, 1)
    assert table_totals(moto_tables)["requests"] == 0
    # within the TTL the same record is written
    fresh = UsageWriter(moto_tables.client, moto_tables.usage, 90 * DAY)
    assert replay_lines(as_cloudwatch(message)[:1], fresh).written == 1
