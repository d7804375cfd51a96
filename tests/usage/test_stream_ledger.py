"""The Kinesis ledger (USAGE_LEDGER_STREAM): a request's record is one PutRecord on a stream
(moto's server, over HTTP), counted into the usage table's day items (DynamoDB Local) by the
aggregator's Kinesis path, exactly once: under botocore's retries of a put that landed, a
failed put kept in the fallback queue and replayed, batches delivered again, and a crash
between the day items and the producers' watermarks."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from handler import snapstart
from handler.records import UsageRecord
from handler.settings import Settings
from handler.usage import cli, store
from handler.usage import stream_drain as drain
from handler.usage.aggregator_handler import handle_ledger_batch, is_kinesis
from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import KeyStore
from handler.usage.recorder import UsageRecorder
from handler.usage.replay import replay
from handler.usage.report import UsageReader
from handler.usage.service import UsageService
from handler.usage.stream_counter import MALFORMED_EVENT, StreamCounter, producer_key
from handler.usage.stream_ledger import (
    StreamLedger,
    StreamReplayWriter,
    put_record,
    replay_writer,
)
from handler.usage.writer import UsageWriter
from tests.usage.stream_support import LostResponses, ledger_events, make_stream
from tests.usage.usage_support import DAY, Tables, WriteUnits, make_record
from tools.dynamodb_local import DynamoDBLocal
from tools.moto_server import MotoServer

TOTALS = ("requests", "inputs", "total_tokens")


def totals(tables: Tables, key_id: str) -> dict[str, int]:
    today = datetime.now(UTC).date()
    start = date.fromordinal(today.toordinal() - 2)
    rows = UsageReader(tables.client, tables.usage).daily(key_id, start, today)
    return {name: sum(getattr(row, name) for row in rows) for name in TOTALS}


@pytest.fixture
def kinesis(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A botocore Kinesis client on moto's server, built as the function builds it (3
    attempts, as the deployment's; timeouts that a loaded machine's moto meets)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", moto_server.endpoint_url)
    return store.make_client("kinesis", store.client_config(5, 30, 3))


@pytest.fixture
def stream(kinesis: Any) -> str:
    return make_stream(kinesis)


def count(kinesis: Any, stream: str, counter: StreamCounter) -> int:
    """Deliver every record so far to the counter, as the event source mapping would."""
    return sum(
        handle_ledger_batch(event, counter)["counted"] for event in ledger_events(kinesis, stream)
    )


def ledger_on(tables: Tables, kinesis: Any, stream: str) -> tuple[UsageWriter, StreamLedger]:
    """The DynamoDB ledger as the template runs it (batch lines, unstamped replays), and the
    Kinesis ledger in front of it."""
    writer = UsageWriter(tables.client, tables.usage, 90 * DAY, inline=False)
    return writer, StreamLedger(kinesis, stream, writer)


def counter_for(tables: Tables) -> StreamCounter:
    return StreamCounter(tables.client, tables.usage, 90 * DAY)


@pytest.mark.integration
def test_requests_are_one_put_each_and_counted_once_into_get_usage(
    local_tables: Tables,
    kinesis: Any,
    stream: str,
    make_app: Callable[..., tuple[FastAPI, UsageService]],
) -> None:
    # GIVEN the app wired from settings with the Kinesis ledger (its client built from them)
    secret, key = KeyStore(local_tables.client, local_tables.keys).create("app")
    app, service = make_app(local_tables, usage_aggregation="stream", usage_ledger_stream=stream)
    assert isinstance(service.recorder.writer, StreamLedger)
    headers = {"Authorization": f"Bearer {secret}"}
    meter = WriteUnits(local_tables.client)
    with TestClient(app) as client:
        told = 0
        for text in ("one", ["two", "three"], "four five six"):
            body = {"model": "all-MiniLM-L6-v2", "input": text}
            response = client.post("/v1/embeddings", json=body, headers=headers)
            assert response.status_code == 200
            told += response.json()["usage"]["total_tokens"]
        # THEN the requests wrote nothing to DynamoDB (a key without limits)
        assert meter.units == 0 and meter.calls == []
        assert client.get("/v1/usage", headers=headers).json()["total"]["requests"] == 0
        # WHEN the aggregator's Kinesis path has run, twice (a batch delivered again)
        counter = counter_for(local_tables)
        assert count(kinesis, stream, counter) == 3
        assert count(kinesis, stream, counter) == 0
        total = client.get("/v1/usage", headers=headers).json()["total"]
    # THEN the totals are what the client was told, once
    assert total == {"requests": 3, "inputs": 4, "prompt_tokens": told, "total_tokens": told}
    events = ledger_events(kinesis, stream)
    assert is_kinesis(events[0])
    stamped = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in events[0]["Records"]]
    assert [r["producer_seq"] for r in stamped] == [1, 2, 3]
    assert {r["key_id"] for r in stamped} == {key.key_id}


@pytest.mark.integration
def test_a_put_retried_after_a_lost_response_counts_once(
    local_tables: Tables, kinesis: Any, stream: str
) -> None:
    writer, ledger = ledger_on(local_tables, kinesis, stream)
    # GIVEN a put whose first try lands but whose response is lost: botocore sends it again
    lost = LostResponses(kinesis, puts=1)
    assert ledger.write(make_record("key_r", 5, 1)) == "written"
    assert ledger.write(make_record("key_r", 7, 2)) == "written"
    assert lost.sent == 1
    records = ledger_events(kinesis, stream)[0]["Records"]
    assert len(records) == 3  # the first record is on the stream twice
    # THEN it counts once
    assert count(kinesis, stream, counter_for(local_tables)) == 2
    assert totals(local_tables, "key_r") == {"requests": 2, "inputs": 3, "total_tokens": 12}


@pytest.mark.integration
@pytest.mark.parametrize("landed", [True, False], ids=["landed", "never-landed"])
def test_a_failed_put_is_queued_stamped_and_its_replay_counts_once(
    local_tables: Tables, kinesis: Any, stream: str, moto_server: MotoServer, landed: bool
) -> None:
    sqs = moto_server.client("sqs")
    # visible again at once, so the test can read the message before the replay takes it
    url = sqs.create_queue(QueueName="fallback-" + stream, Attributes={"VisibilityTimeout": "0"})[
        "QueueUrl"
    ]
    queue = SqsUsageQueue(sqs, url)
    writer, ledger = ledger_on(local_tables, kinesis, stream)
    recorder = UsageRecorder(ledger, queue)
    assert recorder(make_record("key_f", 3, 1)) == "written"
    first_producer = ledger._producer
    # GIVEN every attempt of a put fails (each landing, or none): botocore gives up
    LostResponses(kinesis, puts=3, landed=landed)
    failed = make_record("key_f", 11, 2)
    assert recorder(failed) == "queued"
    # THEN the producer retires its id, and the next record starts a new sequence
    assert recorder(make_record("key_f", 13, 1)) == "written"
    assert ledger._producer != first_producer and ledger._next == 2
    # WHEN the queue is replayed twice (a message delivered again), before and after counting
    replay_writer = StreamReplayWriter(kinesis, stream, writer)
    ((receipt, body),) = queue.receive(10, 0)
    queued = UsageRecord.from_json(body)
    assert (queued.producer, queued.producer_seq) == (first_producer, 2)
    assert replay(queue, replay_writer, wait_seconds=0).written == 1
    counter = counter_for(local_tables)
    count(kinesis, stream, counter)
    put_record(kinesis, stream, queued, None)  # the same message, replayed again later
    count(kinesis, stream, counter)
    # THEN the failed request is counted once, whether or not its put had landed
    assert totals(local_tables, "key_f") == {"requests": 3, "inputs": 4, "total_tokens": 27}


@pytest.mark.integration
def test_a_late_first_copy_after_the_next_record_counts_nothing(
    local_tables: Tables, kinesis: Any, stream: str
) -> None:
    first = dataclasses.replace(make_record("key_l", 5, 1), producer="p-late", producer_seq=1)
    second = dataclasses.replace(make_record("key_l", 7, 1), producer="p-late", producer_seq=2)
    for record in (first, second, first):  # the first try's put arrives after the retry's
        put_record(kinesis, stream, record, None)
    assert count(kinesis, stream, counter_for(local_tables)) == 2
    assert totals(local_tables, "key_l") == {"requests": 2, "inputs": 2, "total_tokens": 12}


class CrashOnWatermark:
    """A client whose first producer-watermark update raises, after the day items applied."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def update_item(self, **kwargs: Any) -> Any:
        if kwargs["Key"]["pk"]["S"].startswith("PRODUCER#") and not self.crashed:
            self.crashed = True
            raise RuntimeError("the aggregator died here")
        return self.client.update_item(**kwargs)


@pytest.mark.integration
def test_a_crash_before_the_watermarks_counts_nothing_twice(
    local_tables: Tables, kinesis: Any, stream: str
) -> None:
    writer, ledger = ledger_on(local_tables, kinesis, stream)
    for tokens in (2, 3, 4):
        ledger.write(make_record("key_c", tokens, 1))
    crashing = StreamCounter(CrashOnWatermark(local_tables.client), local_tables.usage, 90 * DAY)
    with pytest.raises(RuntimeError):
        count(kinesis, stream, crashing)
    # WHEN Lambda delivers the batch again, and once more
    counter = counter_for(local_tables)
    assert count(kinesis, stream, counter) == 0  # the day items' seq had them
    assert count(kinesis, stream, counter) == 0
    assert totals(local_tables, "key_c") == {"requests": 3, "inputs": 3, "total_tokens": 9}
    mark = local_tables.client.get_item(
        TableName=local_tables.usage, Key=producer_key(ledger._producer), ConsistentRead=True
    )["Item"]
    assert mark["n"] == {"N": "3"}


@pytest.mark.integration
def test_a_record_that_is_not_a_stamped_usage_record_is_logged_and_skipped(
    local_tables: Tables, kinesis: Any, stream: str, caplog: pytest.LogCaptureFixture
) -> None:
    kinesis.put_record(StreamName=stream, Data=b"{not json", PartitionKey="x")
    unstamped = make_record("key_m", 5, 1)  # no producer: nothing could dedupe it
    kinesis.put_record(StreamName=stream, Data=unstamped.to_json().encode(), PartitionKey="y")
    put_record(
        kinesis, stream, dataclasses.replace(unstamped, producer="p-ok", producer_seq=1), None
    )
    with caplog.at_level(logging.ERROR, logger="handler.usage"):
        assert count(kinesis, stream, counter_for(local_tables)) == 1
    assert sum(MALFORMED_EVENT in r.getMessage() for r in caplog.records) == 2
    assert totals(local_tables, "key_m")["requests"] == 1


@pytest.mark.integration
def test_a_counter_batch_costs_per_producer_and_day_not_per_request(
    dynamodb_local: DynamoDBLocal, local_tables: Tables, kinesis: Any, stream: str
) -> None:
    writer, ledger = ledger_on(local_tables, kinesis, stream)
    for _ in range(40):
        ledger.write(make_record("key_w", 4, 1))
    meter = WriteUnits(local_tables.client)
    assert count(kinesis, stream, counter_for(local_tables)) == 40
    # one day item and one producer watermark for the whole batch
    assert meter.units == 2 and sorted(meter.calls) == ["UpdateItem", "UpdateItem"]


@pytest.mark.integration
def test_unstamped_records_keep_the_dynamodb_ledger_by_request_id(
    dynamodb_local: DynamoDBLocal,
    local_tables: Tables,
    kinesis: Any,
    stream: str,
) -> None:
    batch_line = dataclasses.replace(make_record("key_b", 600, 50), requests=50)
    # GIVEN a batch part's record and a record queued before the switch to Kinesis (unstamped)
    writer = UsageWriter(local_tables.client, local_tables.usage, 90 * DAY, inline=True)
    ledger = StreamLedger(kinesis, stream, writer)
    assert ledger.write_group([batch_line]) == ["written"]
    replayer = StreamReplayWriter(kinesis, stream, writer)
    # WHEN both are replayed: THEN they stay exactly once by request id, off the stream
    assert replayer.write(batch_line) == "duplicate"
    assert ledger_events(kinesis, stream) == []
    assert totals(local_tables, "key_b") == {"requests": 50, "inputs": 50, "total_tokens": 600}


@pytest.mark.unit
def test_a_snapstart_restore_makes_the_container_a_new_producer(
    model_dir: Path, moto_tables: Tables
) -> None:
    # GIVEN the service as a snapshot holds it (its producer id made before the snapshot)
    settings = Settings(
        model_dir=model_dir,
        keys_table=moto_tables.keys,
        usage_table=moto_tables.usage,
        usage_ledger_stream="ledger",
    )
    service = UsageService.from_settings(settings, dynamodb=moto_tables.client)
    before = service.recorder.writer
    assert isinstance(before, StreamLedger)
    # WHEN it is restored (handler/snapstart.py reconnects it), twice, as two containers
    ids = set()
    for _ in range(2):
        snapstart.reconnect(service, settings)
        after = service.recorder.writer
        assert isinstance(after, StreamLedger)
        ids.add(after._producer)
        # the clients build on threads: let them finish while this test's AWS settings hold
        # (one still building after it would look for credentials where there are none)
        assert after.client.meta.service_model.service_name == "kinesis"
        assert service.reader.client.meta.service_model.service_name == "dynamodb"
    # THEN each restored container numbers its records under its own new id: clones of one
    # id would see each other's records as copies and drop them
    assert len(ids | {before._producer}) == 3


@pytest.mark.integration
def test_a_stamped_record_is_held_where_no_ledger_stream_is_configured(
    local_tables: Tables, moto_server: MotoServer, model_dir: Path
) -> None:
    # GIVEN the stack went back to the DynamoDB ledger with a stamped record still queued (its
    # put may have been counted from the stream before it was deleted)
    sqs = moto_server.client("sqs")
    name = "held-" + uuid.uuid4().hex[:8]
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    queue = SqsUsageQueue(sqs, url)
    stamped = dataclasses.replace(make_record("key_h", 5, 1), producer="p-gone", producer_seq=4)
    plain = make_record("key_h", 7, 1)
    for record in (stamped, plain):
        queue.send(record.to_json())
    settings = Settings(
        model_dir=model_dir, keys_table=local_tables.keys, usage_table=local_tables.usage
    )
    writer = replay_writer(settings, local_tables.client, lambda: None)
    # WHEN the queue is replayed
    report = replay(queue, writer, wait_seconds=0)
    # THEN the unstamped record is written and the stamped one is left in the queue, counted
    assert (report.written, report.held) == (1, 1)
    left = [UsageRecord.from_json(body) for _, body in queue.receive(10, 5)]
    assert [r.request_id for r in left] == [stamped.request_id]


@pytest.mark.integration
def test_count_stream_counts_what_the_aggregator_left_once_parents_first(
    local_tables: Tables, kinesis: Any, stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, ledger = ledger_on(local_tables, kinesis, stream)
    for tokens in (1, 2, 3):
        ledger.write(make_record("key_d", tokens, 1))
    # GIVEN the aggregator counted the first two records before its mapping went away
    (event,) = ledger_events(kinesis, stream)
    assert counter_for(local_tables).apply(event["Records"][:2]) == 2
    # AND the stream was split since, and more records landed on the children
    (parent,) = kinesis.list_shards(StreamName=stream)["Shards"]
    middle = (int(parent["HashKeyRange"]["EndingHashKey"]) + 1) // 2
    kinesis.split_shard(
        StreamName=stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(middle)
    )
    later = StreamLedger(kinesis, stream, writer)  # a new container: a new producer id
    for tokens in (4, 5):
        later.write(make_record("key_d", tokens, 1))
    assert drain.shards_parents_first(kinesis, stream)[0] == parent["ShardId"]
    # WHEN the operator counts the stream, twice
    monkeypatch.setenv("USAGE_TABLE", local_tables.usage)
    monkeypatch.setenv("KEYS_TABLE", local_tables.keys)
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        assert cli.main(["count-stream", stream], out, local_tables.client, kinesis=kinesis) == 0
        outputs.append(out.getvalue().strip())
    # THEN what was left is counted once
    assert outputs == [
        "counted 3 records not counted before",
        "counted 0 records not counted before",
    ]
    assert totals(local_tables, "key_d") == {"requests": 5, "inputs": 5, "total_tokens": 15}
