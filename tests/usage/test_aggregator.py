"""USAGE_AGGREGATION=stream: one conditional PutItem per record on the hot path, day
aggregates from DynamoDB Local's real stream, exactly once under redelivery and crashes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fastapi import FastAPI
from starlette.testclient import TestClient

from handler.records import UsageRecord
from handler.usage import aggregator
from handler.usage.aggregator import StreamAggregator
from handler.usage.aggregator_handler import handle_batch
from handler.usage.keys import KeyStore
from handler.usage.report import UsageReader
from handler.usage.service import UsageService
from handler.usage.writer import UsageWriter
from tests.usage.usage_support import DAY, Tables, WriteUnits, drain, make_record, stream_batches
from tools.dynamodb_local import DynamoDBLocal

TOTALS = ("requests", "inputs", "total_tokens")


def totals(tables: Tables, key_id: str, days_back: int = 3) -> dict[str, int]:
    today = datetime.now(UTC).date()
    start = date.fromordinal(today.toordinal() - days_back)
    rows = UsageReader(tables.client, tables.usage).daily(key_id, start, today)
    return {name: sum(getattr(row, name) for row in rows) for name in TOTALS}


@pytest.fixture
def written(local_tables: Tables) -> list[UsageRecord]:
    writer = UsageWriter(local_tables.client, local_tables.usage, 90 * DAY, inline=False)
    records = [
        make_record("key_a", 5, 2),
        make_record("key_a", 7, 1, days_ago=1),
        make_record("key_b", 11, 3),
        make_record("key_a", 13, 1),
    ]
    assert [writer.write(r) for r in records] == ["written"] * 4
    assert writer.write(records[0]) == "duplicate"  # a retry or replay: no second item
    assert writer.write_group(records[1:2]) == ["duplicate"]
    return records


@pytest.mark.integration
def test_stream_aggregation_counts_every_record_once(
    dynamodb_local: DynamoDBLocal, local_tables: Tables, written: list[UsageRecord]
) -> None:
    agg = StreamAggregator(local_tables.client, local_tables.usage)
    assert totals(local_tables, "key_a")["requests"] == 0  # nothing counted on the hot path
    meter = WriteUnits(local_tables.client)
    drain(dynamodb_local, local_tables, agg)
    assert totals(local_tables, "key_a") == {"requests": 3, "inputs": 4, "total_tokens": 25}
    assert totals(local_tables, "key_b") == {"requests": 1, "inputs": 3, "total_tokens": 11}
    assert meter.units == 3  # one per (key, day) in the batch: key_a today and yesterday, key_b


@pytest.mark.integration
def test_records_delivered_twice_count_once(
    dynamodb_local: DynamoDBLocal, local_tables: Tables, written: list[UsageRecord]
) -> None:
    agg = StreamAggregator(local_tables.client, local_tables.usage)
    # GIVEN a first delivery of part of each shard (a bisected batch), then all of it, twice
    for shard, records in stream_batches(dynamodb_local, local_tables):
        assert handle_batch({"shardId": shard, "Records": records[:2]}, agg) == {"state": {}}
    drain(dynamodb_local, local_tables, agg)
    assert drain(dynamodb_local, local_tables, agg) == 0
    # THEN every record is counted once
    assert totals(local_tables, "key_a") == {"requests": 3, "inputs": 4, "total_tokens": 25}
    assert totals(local_tables, "key_b") == {"requests": 1, "inputs": 3, "total_tokens": 11}


class CrashOnce:
    """A client whose n-th UpdateItem raises, after DynamoDB applied it or before."""

    def __init__(self, client: Any, crash_at: int, after_commit: bool) -> None:
        self.client, self.crash_at, self.after_commit = client, crash_at, after_commit
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def update_item(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.crash_at:
            if self.after_commit:
                self.client.update_item(**kwargs)
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")
        return self.client.update_item(**kwargs)


@pytest.mark.integration
@pytest.mark.parametrize("after_commit", [False, True])
def test_an_aggregator_that_crashes_mid_batch_counts_the_rest_once(
    dynamodb_local: DynamoDBLocal,
    local_tables: Tables,
    written: list[UsageRecord],
    after_commit: bool,
) -> None:
    # GIVEN three day items to update, and the second update failing (applied or not)
    crashing = CrashOnce(local_tables.client, crash_at=2, after_commit=after_commit)
    batches = stream_batches(dynamodb_local, local_tables)
    with pytest.raises(ClientError):
        for shard, records in batches:
            StreamAggregator(crashing, local_tables.usage).apply(shard, records)
    # WHEN Lambda delivers the batch again, then a bisected half of it
    agg = StreamAggregator(local_tables.client, local_tables.usage)
    drain(dynamodb_local, local_tables, agg)
    for shard, records in batches:
        assert agg.apply(shard, records[len(records) // 2 :]) == 0
    # THEN nothing is lost or doubled
    assert totals(local_tables, "key_a") == {"requests": 3, "inputs": 4, "total_tokens": 25}
    assert totals(local_tables, "key_b") == {"requests": 1, "inputs": 3, "total_tokens": 11}


@pytest.mark.integration
def test_a_retry_that_overlaps_a_counted_part_adds_only_the_rest(
    dynamodb_local: DynamoDBLocal, local_tables: Tables
) -> None:
    # GIVEN one key's records, the first part counted, then a retry from the middle of it
    writer = UsageWriter(local_tables.client, local_tables.usage, 90 * DAY, inline=False)
    for tokens in (1, 2, 4, 8, 16):
        writer.write(make_record("key_d", tokens, 1))
    ((shard, records),) = stream_batches(dynamodb_local, local_tables)
    agg = StreamAggregator(local_tables.client, local_tables.usage)
    assert agg.apply(shard, records[:3]) == 3
    assert agg.apply(shard, records[1:][::-1]) == 2  # the condition says where it stood
    assert totals(local_tables, "key_d") == {"requests": 5, "inputs": 5, "total_tokens": 31}


@pytest.mark.integration
def test_records_written_inline_are_not_counted_again(
    dynamodb_local: DynamoDBLocal, local_tables: Tables, written: list[UsageRecord]
) -> None:
    # GIVEN a record written inline (request item and day aggregate in one transaction), as
    # an operator's replay without USAGE_AGGREGATION=stream would
    inline = UsageWriter(local_tables.client, local_tables.usage, 90 * DAY)
    assert inline.write(make_record("key_b", 100, 10)) == "written"
    drain(dynamodb_local, local_tables, StreamAggregator(local_tables.client, local_tables.usage))
    # THEN the aggregator skips it: counted once, inline
    assert totals(local_tables, "key_b") == {"requests": 2, "inputs": 13, "total_tokens": 111}


@pytest.mark.unit
def test_a_handler_without_a_shard_id_refuses_the_batch() -> None:
    with pytest.raises(ValueError, match="TumblingWindowInSeconds"):
        handle_batch({"Records": []}, StreamAggregator(None, "t"))


@pytest.mark.unit
def test_groups_keep_stream_order_and_skip_other_items() -> None:
    def rec(seq: int, key: str, pk: str = "REQ#x", event: str = "INSERT") -> dict[str, Any]:
        image = {"pk": {"S": pk}, "key_id": {"S": key}, "day": {"S": "2026-12-05"}}
        image |= {"inputs": {"N": "1"}, "prompt_tokens": {"N": "2"}, "total_tokens": {"N": "2"}}
        return {"eventName": event, "dynamodb": {"SequenceNumber": str(seq), "NewImage": image}}

    records = [rec(1, "a"), rec(2, "b"), rec(3, "a", pk="KEY#a"), rec(4, "a", event="MODIFY")]
    found = aggregator.groups([*records, rec(5, "a")])
    assert {k: [seq.lstrip("0") for seq, _ in v] for k, v in found.items()} == {
        ("a", "2026-12-05"): ["1", "5"],
        ("b", "2026-12-05"): ["2"],
    }


@pytest.mark.integration
def test_batch_groups_in_stream_mode_count_once(
    dynamodb_local: DynamoDBLocal, local_tables: Tables
) -> None:
    # GIVEN a batch's lines written in a group, then the group again (a shard run twice)
    writer = UsageWriter(local_tables.client, local_tables.usage, 90 * DAY, inline=False)
    lines = [make_record("key_c", 3, 1) for _ in range(5)]
    assert writer.write_group(lines) == ["written"] * 5
    assert writer.write_group([*lines[:2], make_record("key_c", 4, 1)]) == [
        "duplicate",
        "duplicate",
        "written",
    ]
    drain(dynamodb_local, local_tables, StreamAggregator(local_tables.client, local_tables.usage))
    # THEN six lines, each once
    assert totals(local_tables, "key_c") == {"requests": 6, "inputs": 6, "total_tokens": 19}


@pytest.mark.integration
def test_get_usage_is_exact_once_the_aggregator_has_run(
    dynamodb_local: DynamoDBLocal,
    local_tables: Tables,
    make_app: Callable[..., tuple[FastAPI, UsageService]],
) -> None:
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create("app")
    app, _ = make_app(local_tables, usage_aggregation="stream")
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app) as client:
        told = 0
        for text in ("one", ["two", "three"], "four five six"):
            body = {"model": "all-MiniLM-L6-v2", "input": text}
            response = client.post("/v1/embeddings", json=body, headers=headers)
            told += response.json()["usage"]["total_tokens"]
        # WHEN the aggregator has not run yet, the requests are not in the totals
        assert client.get("/v1/usage", headers=headers).json()["total"]["requests"] == 0
        drain(
            dynamodb_local, local_tables, StreamAggregator(local_tables.client, local_tables.usage)
        )
        # THEN once it has, the totals are exactly what the client was told
        total = client.get("/v1/usage", headers=headers).json()["total"]
    assert total == {"requests": 3, "inputs": 4, "prompt_tokens": told, "total_tokens": told}


@pytest.mark.integration
@pytest.mark.parametrize("inline", [False, True])
def test_a_batch_shards_one_record_counts_its_lines_as_requests_once(
    dynamodb_local: DynamoDBLocal, local_tables: Tables, inline: bool
) -> None:
    import dataclasses

    # GIVEN one record for a shard part of 500 lines, beside a synchronous request
    writer = UsageWriter(local_tables.client, local_tables.usage, 90 * DAY, inline=inline)
    shard = dataclasses.replace(make_record("key_s", 6000, 500), requests=500)
    meter = WriteUnits(local_tables.client)
    assert writer.write(shard) == "written"
    hot_path_units = meter.units
    # WHEN the shard runs again (a redelivered message) and the stream is drained twice
    assert writer.write(shard) == "duplicate"
    assert writer.write(make_record("key_s", 7, 1)) == "written"
    agg = StreamAggregator(local_tables.client, local_tables.usage)
    drain(dynamodb_local, local_tables, agg)
    drain(dynamodb_local, local_tables, agg)
    # THEN its lines are requests in the same day totals as the synchronous one, once
    assert totals(local_tables, "key_s") == {"requests": 501, "inputs": 501, "total_tokens": 6007}
    # AND the 500 lines cost the ledger one write (two in an inline transaction's update)
    assert hot_path_units <= (4 if inline else 1)
