"""Usage is written exactly once: retries, faults, the SQS fallback and replay.

The fallback queue is moto's SQS (no SQS emulator runs offline); the table is moto in the
unit tests and DynamoDB Local in the integration ones, where botocore's real retry logic
meets the injected faults.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

import pytest

from handler.records import UsageRecord
from handler.usage.aggregator import StreamAggregator
from handler.usage.fallback import SqsUsageQueue
from handler.usage.recorder import UsageRecorder
from handler.usage.replay import replay
from handler.usage.store import day_key, day_shard
from handler.usage.writer import GROUP_RECORDS, UsageWriter
from tests.usage.usage_support import Faults, Tables, drain, make_record
from tools.dynamodb_local import DynamoDBLocal


def table_totals(tables: Tables, key_id: str = "key_test") -> dict[str, int]:
    """Sums over the day aggregates and the number of per-request items."""
    items = tables.client.scan(TableName=tables.usage, ConsistentRead=True)["Items"]
    days = [i for i in items if i["pk"]["S"] == f"KEY#{key_id}" and i["sk"]["S"].startswith("DAY#")]
    requests = [i for i in items if i["pk"]["S"].startswith("REQ#")]
    return {
        "requests": sum(int(d["requests"]["N"]) for d in days),
        "inputs": sum(int(d["inputs"]["N"]) for d in days),
        "total_tokens": sum(int(d["total_tokens"]["N"]) for d in days),
        "request_items": len(requests),
        "request_ids": len({i["request_id"]["S"] for i in requests}),
    }


@pytest.mark.unit
def test_a_record_written_twice_counts_once(moto_tables: Tables) -> None:
    writer = UsageWriter(moto_tables.client, moto_tables.usage, ttl_seconds=3600)
    record = make_record(tokens=11)
    assert writer.write(record) == "written"
    assert writer.write(record) == "duplicate"
    assert table_totals(moto_tables) == {
        "requests": 1,
        "inputs": 2,
        "total_tokens": 11,
        "request_items": 1,
        "request_ids": 1,
    }
    key = {"pk": {"S": f"REQ#{record.request_id}"}, "sk": {"S": "REQ"}}
    item = moto_tables.client.get_item(TableName=moto_tables.usage, Key=key)["Item"]
    assert int(item["expires_at"]["N"]) == int(record.timestamp) + 3600
    assert item["user"]["S"] == "end-user-1" and item["dimensions"] == {"NULL": True}


@pytest.mark.unit
def test_failed_write_goes_to_the_queue_and_a_log_line_then_replays(
    moto_tables: Tables, queue: SqsUsageQueue, caplog: pytest.LogCaptureFixture
) -> None:
    faults = Faults(moto_tables.client, "TransactWriteItems", ["timeout"] * 3)
    writer = UsageWriter(moto_tables.client, moto_tables.usage, ttl_seconds=3600)
    record = make_record(tokens=5)
    with caplog.at_level(logging.WARNING, logger="handler.usage"):
        assert UsageRecorder(writer, queue)(record) == "queued"
    assert faults.attempts == 3  # botocore retried, then gave up
    line = json.loads(caplog.records[-1].getMessage())
    assert line["event"] == "usage_fallback" and line["reason"] == "ReadTimeoutError"
    assert line["record"]["request_id"] == record.request_id
    assert table_totals(moto_tables)["requests"] == 0

    report = replay(queue, writer, wait_seconds=0)
    assert (report.written, report.duplicates, report.failed) == (1, 0, 0)
    assert table_totals(moto_tables)["total_tokens"] == 5
    assert queue.receive(10, 0) == []


@pytest.mark.unit
def test_without_a_queue_the_record_is_kept_in_an_error_log_line(
    moto_tables: Tables, caplog: pytest.LogCaptureFixture
) -> None:
    Faults(moto_tables.client, "TransactWriteItems", ["timeout"] * 3)
    writer = UsageWriter(moto_tables.client, moto_tables.usage, ttl_seconds=3600)
    record = make_record()
    with caplog.at_level(logging.WARNING, logger="handler.usage"):
        assert UsageRecorder(writer, None)(record) == "logged"
    assert caplog.records[-1].levelno == logging.ERROR
    restored = json.loads(caplog.records[-1].getMessage())["record"]
    assert UsageRecord(**restored) == record


@pytest.mark.unit
def test_replay_skips_duplicates_and_keeps_what_it_cannot_write(
    moto_tables: Tables, queue: SqsUsageQueue
) -> None:
    writer = UsageWriter(moto_tables.client, moto_tables.usage, ttl_seconds=3600)
    landed = make_record(tokens=3)
    writer.write(landed)
    queue.send(landed.to_json())  # it reached DynamoDB before it was queued
    queue.send("{not a record")
    report = replay(queue, writer, wait_seconds=0)
    assert (report.written, report.duplicates, report.malformed) == (0, 1, 1)
    assert table_totals(moto_tables)["total_tokens"] == 3


@pytest.fixture
def faulty(dynamodb_local: DynamoDBLocal, local_tables: Tables) -> tuple[Any, Faults]:
    """A client of its own (fresh retry quota) with a fault plan on TransactWriteItems."""
    client = dynamodb_local.client("dynamodb", connect_timeout=1, read_timeout=2)
    return client, Faults(client, "TransactWriteItems")


# Each plan is what the attempts of one record's write meet (botocore makes up to 3).
PLANS: list[tuple[str, list[str], str]] = [
    ("clean", [], "written"),
    ("throttled once", ["throttle"], "written"),
    ("throttled throughout", ["throttle"] * 3, "queued"),
    ("5xx then ok", ["500", "500"], "written"),
    ("5xx throughout", ["500"] * 3, "queued"),
    ("timeouts throughout", ["timeout"] * 3, "queued"),
    # botocore reuses the transaction's ClientRequestToken on retry, so DynamoDB answers the
    # retry as a success without applying it again.
    ("committed, response lost, retried", ["commit_then_timeout"], "written"),
    ("committed, every response lost", ["commit_then_timeout", "timeout", "timeout"], "queued"),
    ("committed, then throttled", ["commit_then_timeout", "throttle", "throttle"], "queued"),
]


@pytest.mark.integration
@pytest.mark.parametrize("inline", [True, False], ids=["inline", "stream"])
def test_after_faults_and_replay_the_table_matches_what_clients_were_told(
    dynamodb_local: DynamoDBLocal,
    local_tables: Tables,
    faulty: tuple[Any, Faults],
    queue: SqsUsageQueue,
    inline: bool,
) -> None:
    client, faults = faulty
    if not inline:  # USAGE_AGGREGATION=stream: the faults meet the one conditional PutItem
        faults = Faults(client, "PutItem")
    writer = UsageWriter(client, local_tables.usage, ttl_seconds=86400, inline=inline)
    recorder = UsageRecorder(writer, queue)
    returned = {"requests": 0, "inputs": 0, "total_tokens": 0}
    outcomes = {}
    for n, (name, plan, _) in enumerate(PLANS):
        record = make_record(tokens=10 + n, inputs=1 + n % 3)
        faults.plan(*plan)
        outcomes[name] = recorder(record)
        returned["requests"] += 1
        returned["inputs"] += record.inputs
        returned["total_tokens"] += record.total_tokens
    expected = {name: outcome for name, _, outcome in PLANS}
    if not inline:  # a PutItem has no client token: its retry finds the item, a duplicate
        expected["committed, response lost, retried"] = "duplicate"
    assert outcomes == expected

    clean_writer = UsageWriter(
        local_tables.client, local_tables.usage, ttl_seconds=86400, inline=inline
    )
    report = replay(queue, clean_writer, wait_seconds=0)
    assert report.written + report.duplicates == 5 and report.failed == 0
    assert report.duplicates == 2  # the two that committed before their response was lost
    again = replay(queue, clean_writer, wait_seconds=0)
    assert (again.written, again.duplicates) == (0, 0)
    if not inline:  # the day aggregates come from the stream, delivered twice here
        aggregate = StreamAggregator(local_tables.client, local_tables.usage)
        drain(dynamodb_local, local_tables, aggregate)
        drain(dynamodb_local, local_tables, aggregate)

    totals = table_totals(local_tables)
    assert totals == {**returned, "request_items": len(PLANS), "request_ids": len(PLANS)}


@pytest.mark.integration
def test_replaying_every_record_again_changes_nothing(
    local_tables: Tables, queue: SqsUsageQueue
) -> None:
    writer = UsageWriter(local_tables.client, local_tables.usage, ttl_seconds=86400)
    records = [make_record(tokens=n + 1) for n in range(12)]
    for record in records:
        writer.write(record)
        queue.send(record.to_json())
        queue.send(record.to_json())  # a fallback sent twice
    before = table_totals(local_tables)
    report = replay(queue, writer, wait_seconds=0)
    assert (report.written, report.duplicates) == (0, 24)
    assert (
        table_totals(local_tables)
        == before
        == {
            "requests": 12,
            "inputs": 24,
            "total_tokens": sum(range(1, 13)),
            "request_items": 12,
            "request_ids": 12,
        }
    )


@pytest.mark.unit
def test_sqs_triggered_replay_reports_only_what_it_could_not_write(moto_tables: Tables) -> None:
    from handler.usage.replay_handler import handle_batch

    writer = UsageWriter(moto_tables.client, moto_tables.usage, ttl_seconds=3600)
    first, second = make_record(tokens=4), make_record(tokens=6)
    event = {
        "Records": [
            {"messageId": "m1", "body": first.to_json()},
            {"messageId": "m2", "body": "garbage"},
            {"messageId": "m3", "body": second.to_json()},
            {"messageId": "m4", "body": first.to_json()},  # delivered twice
        ]
    }
    assert handle_batch(event, writer) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert table_totals(moto_tables)["total_tokens"] == 10


def clash_with_day_item(tables: Tables, record: UsageRecord) -> dict[str, Any]:
    """Store the record's day item with a string count, so the ADD of its day update fails;
    returns the item's key."""
    day = day_key(record.key_id, record.day, day_shard(record.request_id))
    tables.client.put_item(TableName=tables.usage, Item={**day, "requests": {"S": "not a number"}})
    return day


def assert_only_the_day_item(tables: Tables, key_id: str) -> None:
    items = tables.client.scan(TableName=tables.usage, ConsistentRead=True)["Items"]
    assert [i["pk"]["S"] for i in items] == [f"KEY#{key_id}"]


@pytest.mark.integration
@pytest.mark.parametrize("lines", [0, 3])
def test_the_writes_land_together_or_not_at_all(
    local_tables: Tables, queue: SqsUsageQueue, lines: int
) -> None:
    """The day update fails on a type clash in the stored item: the request puts do not land
    alone, the records are queued, and once the clash is gone replay counts each once.
    lines=0: one request's record; otherwise a batch's lines, written as one group."""
    now = time.time()
    records = [replace(make_record(tokens=9), timestamp=now) for _ in range(max(lines, 1))]
    day = clash_with_day_item(local_tables, records[0])  # the (group's) day update
    recorder = UsageRecorder(
        UsageWriter(local_tables.client, local_tables.usage, ttl_seconds=86400), queue
    )
    outcomes = recorder.record_many(records) if lines else [recorder(records[0])]
    assert outcomes == ["queued"] * len(records)
    assert_only_the_day_item(local_tables, records[0].key_id)  # no request item alone

    local_tables.client.delete_item(TableName=local_tables.usage, Key=day)
    report = replay(queue, recorder.writer, wait_seconds=0)
    assert (report.written, report.duplicates) == (len(records), 0)
    totals = table_totals(local_tables)
    count = len(records)
    assert (totals["requests"], totals["total_tokens"], totals["request_items"]) == (
        count,
        9 * count,
        count,
    )


@pytest.mark.integration
def test_a_batch_of_lines_is_written_in_groups_and_a_rerun_counts_only_new_lines(
    local_tables: Tables, queue: SqsUsageQueue
) -> None:
    """A batch shard's records go in transactions of GROUP_RECORDS puts and one day update; a
    shard run again with more lines counts only the lines not yet recorded."""
    writer = UsageWriter(local_tables.client, local_tables.usage, ttl_seconds=86400)
    recorder = UsageRecorder(writer, queue)
    now = time.time()
    first = [replace(make_record(tokens=3, inputs=1), timestamp=now) for _ in range(120)]
    assert recorder.record_many(first) == ["written"] * 120
    totals = table_totals(local_tables)
    assert totals == {
        "requests": 120,
        "inputs": 120,
        "total_tokens": 360,
        "request_items": 120,
        "request_ids": 120,
    }
    days = [
        i
        for i in local_tables.client.scan(TableName=local_tables.usage)["Items"]
        if i["sk"]["S"].startswith("DAY#")
    ]
    assert len(days) <= -(-120 // GROUP_RECORDS)  # one day update per group, not per record

    more = [replace(make_record(tokens=5, inputs=2), timestamp=now) for _ in range(4)]
    again = recorder.record_many([*first[:10], *more])
    assert again == ["duplicate"] * 10 + ["written"] * 4
    totals = table_totals(local_tables)
    assert (totals["requests"], totals["inputs"], totals["total_tokens"]) == (124, 128, 380)
    assert totals["request_items"] == 124 and queue.receive(10, 0) == []


@pytest.mark.unit
def test_a_group_must_share_key_and_day_and_fit_one_transaction(moto_tables: Tables) -> None:
    writer = UsageWriter(moto_tables.client, moto_tables.usage, ttl_seconds=3600)
    with pytest.raises(ValueError, match="share one key"):
        writer.write_group([make_record("a"), make_record("b")])
    with pytest.raises(ValueError, match=f"at most {GROUP_RECORDS}"):
        writer.write_group([make_record() for _ in range(GROUP_RECORDS + 1)])
    assert writer.write_group([]) == []
