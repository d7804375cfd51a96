"""A shard's progress on the live stack (moto's S3 and SQS, DynamoDB Local): a run near its
time limit checkpoints and requeues the rest instead of starting over; usage is recorded only
for lines whose answers are durable and counted; a message that fails on every delivery, or
a batch whose input file is deleted mid-run, ends the batch `failed` instead of retrying
forever; batch and shard items carry DynamoDB's TTL."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import httpx
import orjson
import pytest

from handler.batch import table
from handler.batch.items import from_item, to_item
from handler.batch.metering import part_usage_id
from handler.batch.part_run import STOP_SECONDS
from handler.batch.worker import MAX_RECEIVES
from handler.hooks import UsageRecord
from tests.batch.batch_support import (
    DyingRecorder,
    Stack,
    corpus_free_rows,
    create,
    jsonl,
    lines,
    plan_and_take_shards,
)

pytestmark = pytest.mark.integration


def billed(stack: Stack) -> dict[str, int]:
    got = httpx.get(
        f"{stack.base_url}/usage", headers={"Authorization": f"Bearer {stack.secrets['alice']}"}
    )
    assert got.status_code == 200
    total: dict[str, int] = got.json()["total"]
    return total


class CountingRecorder:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ids: list[str] = []

    def record_many(self, usages: Sequence[UsageRecord]) -> Sequence[str]:
        self.ids += [u.request_id for u in usages]
        return list(self.inner.record_many(usages))


def test_a_run_short_of_time_checkpoints_and_the_next_run_carries_on(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stack.client()
    rows = corpus_free_rows(90) + [
        {"custom_id": "bad", "method": "GET", "url": "/v1/embeddings", "body": {}}
    ]
    rows = [rows[-1], *rows[:-1]]  # an error line first, then 90 requests: one shard of 91
    batch_id = create(stack, rows)
    [shard] = plan_and_take_shards(stack)
    recorder = CountingRecorder(stack.recorder)
    # GIVEN a worker whose invocation is nearly over after its first model pass
    left = iter([3600.0])
    worker = stack.worker(recorder)

    # WHEN it runs the shard in model passes of 40 inputs (time is checked after each)
    monkeypatch.setattr("handler.batch.part_run.GROUP_INPUTS", 40)
    worker.handle(shard, 1, lambda: next(left, STOP_SECONDS - 1))

    # THEN it stopped after its second pass, counted those lines, and queued the rest
    [rest] = [orjson.loads(m["Body"]) for m in stack.receive()]
    assert rest == shard
    stored = stack.service.batches.get_shard(batch_id, 1)
    assert stored is not None and stored.state == "pending"
    assert (stored.parts, stored.billed, stored.completed, stored.failed) == (1, 1, 80, 1)
    assert stored.next_line == 82
    assert recorder.ids == [part_usage_id(batch_id, 1, 1)]  # one record for the part's 80 lines
    assert billed(stack)["requests"] == 80
    # AND the next run answers only the rest
    worker.handle(rest, 1, lambda: 3600.0)

    done = client.batches.retrieve(batch_id)
    assert done.status == "completed"
    counts = done.request_counts
    assert counts is not None and (counts.completed, counts.failed) == (90, 1)
    assert [x["custom_id"] for x in lines(client, done.output_file_id)] == [
        r["custom_id"] for r in rows[1:]
    ]
    assert [x["error"]["code"] for x in lines(client, done.error_file_id)] == ["invalid_method"]
    assert recorder.ids == [part_usage_id(batch_id, 1, n) for n in (1, 2)]  # one per part
    assert billed(stack)["requests"] == 90


def test_lines_billed_are_lines_delivered_when_a_worker_dies_and_the_batch_is_cancelled(
    stack: Stack,
) -> None:
    client = stack.client()
    rows = corpus_free_rows(100)
    batch_id = create(stack, rows)
    [shard] = plan_and_take_shards(stack)
    # GIVEN a worker killed while recording its usage (after its record reached the ledger)
    with pytest.raises(RuntimeError, match="worker killed"):
        stack.worker(DyingRecorder(stack.recorder, 1)).handle(shard)
    # WHEN the batch is cancelled, and the shard's message comes back
    assert client.batches.cancel(batch_id).status == "cancelling"
    stack.worker().handle(shard)

    # THEN every line billed is in the output file, and every line there is billed once
    done = client.batches.retrieve(batch_id)
    assert done.status == "cancelled"
    out = lines(client, done.output_file_id)
    total = billed(stack)
    assert total["requests"] == len(out) == 100
    assert total["total_tokens"] == sum(x["response"]["body"]["usage"]["total_tokens"] for x in out)


def test_a_message_failing_on_every_delivery_ends_its_batch_failed(stack: Stack) -> None:
    client = stack.client()
    batch_id = create(stack, corpus_free_rows(150))  # 2 shards
    first, second = plan_and_take_shards(stack)
    stack.worker().handle(first)
    # WHEN the second shard's message arrives for the last time (it failed on the others)
    stack.worker().handle(second, MAX_RECEIVES)
    # THEN the batch fails with OpenAI's errors, keeping the lines answered in its files
    done = client.batches.retrieve(batch_id)
    assert done.status == "failed" and done.failed_at
    assert done.errors is not None and done.errors.data
    assert done.errors.data[0].code == "server_error"
    assert len(lines(client, done.output_file_id)) == 100
    assert billed(stack)["requests"] == 100
    # and a plan that fails every time fails its batch too
    other = create(stack, corpus_free_rows(5))
    [plan] = stack.receive()
    stack.worker().handle(orjson.loads(plan["Body"]), MAX_RECEIVES)
    assert client.batches.retrieve(other).status == "failed"


def test_a_batch_whose_input_file_is_deleted_mid_run_ends_failed(stack: Stack) -> None:
    client = stack.client()
    rows = corpus_free_rows(250)  # 3 shards
    batch_id = create(stack, rows)
    shards = plan_and_take_shards(stack)
    stack.worker().handle(shards[0])
    client.files.delete(client.batches.retrieve(batch_id).input_file_id)
    for message in shards[1:]:
        stack.worker().handle(message)  # no exception: nothing to retry
    done = client.batches.retrieve(batch_id)
    assert done.status == "failed"
    assert done.errors is not None and done.errors.data[0].code == "file_not_found"
    assert [x["custom_id"] for x in lines(client, done.output_file_id)] == [
        r["custom_id"] for r in rows[:100]
    ]


def test_batch_and_shard_items_expire_with_dynamodbs_ttl(stack: Stack) -> None:
    batch_id = create(stack, corpus_free_rows(150))
    plan_and_take_shards(stack)
    dynamodb, name = stack.service.batches.dynamodb, stack.settings.batch_table
    items = [
        from_item(item)
        for item in dynamodb.query(
            TableName=name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_item({":pk": table.batch_pk(batch_id)}),
        )["Items"]
    ]
    assert sorted(item["sk"] for item in items) == ["meta", "shard#00001", "shard#00002"]
    [batch] = [item for item in items if item["sk"] == "meta"]
    retention = stack.settings.batch_file_retention_days * 86400
    assert batch[table.TTL_ATTRIBUTE] == batch["expires_at"] + retention
    assert {item[table.TTL_ATTRIBUTE] for item in items} == {batch[table.TTL_ATTRIBUTE]}


def test_upload_and_part_items_expire_with_dynamodbs_ttl(stack: Stack) -> None:
    from handler.batch.uploads import ITEM_SECONDS, upload_pk

    uploads = stack.service.uploads
    upload = uploads.create("alice-key", 4, "in.jsonl", "batch", "application/jsonl")
    uploads.add_part(upload, io.BytesIO(b"{}\n\n"), 4)
    dynamodb, name = stack.service.batches.dynamodb, stack.settings.batch_table
    items = [
        from_item(item)
        for item in dynamodb.query(
            TableName=name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_item({":pk": upload_pk(upload.id)}),
        )["Items"]
    ]
    assert len(items) == 2
    assert {item[table.TTL_ATTRIBUTE] for item in items} == {upload.expires_at + ITEM_SECONDS}


def test_a_key_runs_at_most_its_share_of_shards_at_once(stack: Stack) -> None:
    import dataclasses

    from handler.batch.leases import SHARDS_PER_KEY, ShardLeases

    client = stack.client()
    batch_id = create(stack, corpus_free_rows(150))  # 2 shards
    first, second = plan_and_take_shards(stack)
    owner = stack.service.batches.get(batch_id)["owner"]  # type: ignore[index]
    leases = ShardLeases(
        stack.service.batches.dynamodb, stack.settings.batch_table, SHARDS_PER_KEY, 360
    )
    # GIVEN every slot of the key held by its other running shards
    for n in range(SHARDS_PER_KEY):
        assert leases.acquire(owner, f"batch_other:{n}") == n
    sent: list[dict[str, Any]] = []
    worker = dataclasses.replace(stack.worker(), send=sent.append)

    # WHEN its shard's message comes, it is queued again for later, not run
    worker.handle(first)
    assert sent == [{**first, "delay": 30}]
    assert client.batches.retrieve(batch_id).request_counts.completed == 0  # type: ignore[union-attr]

    # AND another key's shards are not held back by it
    bob = stack.client("bob")
    file_id = bob.files.create(
        file=("in.jsonl", io.BytesIO(jsonl(corpus_free_rows(5)))), purpose="batch"
    ).id
    other = bob.batches.create(
        input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
    ).id
    [bob_shard] = plan_and_take_shards(stack)
    worker.handle(bob_shard)
    assert bob.batches.retrieve(other).status == "completed"

    # THEN once a slot is free (released, or its holder's lease ran out) the shard runs
    leases.release(owner, 0, "batch_other:0")
    worker.handle(first)
    worker.handle(second)
    assert client.batches.retrieve(batch_id).status == "completed"
    # and a run gives its slot back: the key's other holders still have theirs
    assert leases.acquire(owner, "batch_next:0") == 0


def test_a_lease_whose_holder_died_frees_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    from handler.batch.leases import ShardLeases

    # moto's in-process mock only: no endpoint left over from another test points elsewhere
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        table.create_table(ddb, "t")
        now = [1000.0]
        leases = ShardLeases(ddb, "t", 1, 360, clock=lambda: now[0])
        assert leases.acquire("k", "a:1") == 0
        assert leases.acquire("k", "b:1") is None
        assert leases.acquire("k", "a:1") == 0  # its holder again
        now[0] += 361
        assert leases.acquire("k", "b:1") == 0


def test_a_finalization_short_of_time_is_carried_on_by_a_finalize_message(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    client = stack.client()
    rows = corpus_free_rows(150)
    batch_id = create(stack, rows)
    first, second = plan_and_take_shards(stack)
    stack.worker().handle(first)
    sent: list[dict[str, Any]] = []
    worker = dataclasses.replace(stack.worker(), send=sent.append)
    # GIVEN the last shard's invocation has too little time left to assemble the results
    monkeypatch.setattr("handler.batch.assembly.STOP_SECONDS", 10_000.0)
    worker.handle(second, 1, lambda: 5000.0)
    assert sent == [{"kind": "finalize", "batch_id": batch_id}]
    assert client.batches.retrieve(batch_id).status == "finalizing"
    # WHEN the finalize message runs with time to spare
    monkeypatch.undo()
    stack.worker().handle(sent[0], 1, lambda: 3600.0)
    # THEN the batch completes with every line
    done = client.batches.retrieve(batch_id)
    assert done.status == "completed"
    assert [x["custom_id"] for x in lines(client, done.output_file_id)] == [
        r["custom_id"] for r in rows
    ]


def test_model_passes_are_bounded_in_tokens_as_well_as_inputs(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stack.client()
    batch_id = create(stack, corpus_free_rows(40))
    [shard] = plan_and_take_shards(stack)
    passes: list[int] = []
    run = stack.embedder.run

    def counted(tokenized):  # type: ignore[no-untyped-def]
        passes.append(sum(len(ids) for ids in tokenized.ids))
        return run(tokenized)

    monkeypatch.setattr(stack.embedder, "run", counted)
    monkeypatch.setattr("handler.batch.part_run.GROUP_TOKENS", 60)
    stack.worker().handle(shard)

    assert client.batches.retrieve(batch_id).status == "completed"
    # 40 one-input lines of ~9 tokens: a pass closes once it holds 60 tokens
    assert len(passes) >= 5 and max(passes) < 60 + 20


def test_two_runs_of_one_shard_at_once_write_apart_and_only_the_counted_part_is_kept(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    client = stack.client()
    rows = corpus_free_rows(91)
    batch_id = create(stack, rows)
    [shard] = plan_and_take_shards(stack)
    monkeypatch.setattr("handler.batch.part_run.GROUP_INPUTS", 40)
    store = stack.service.batches
    checkpoint = store.checkpoint
    sent: list[dict[str, Any]] = []
    other = dataclasses.replace(stack.worker(), send=sent.append)
    calls: list[tuple[Any, ...]] = []
    counted: list[bool] = []

    def raced(*args: Any) -> bool:
        calls.append(args)
        if len(calls) == 1:
            # GIVEN a duplicate of the message, run at once by another worker with more time:
            # it writes its own part 1 (all 91 lines) and tries to count it after this one
            other.handle(shard, 1, lambda: 3600.0)
            return counted[0]
        if len(calls) == 2:  # this run's part (80 lines) is counted first, the other refused
            counted.append(checkpoint(*calls[0]))
            assert counted[0] and not checkpoint(*args)
            return False
        return checkpoint(*args)

    monkeypatch.setattr(store, "checkpoint", raced)
    left = iter([3600.0])
    worker = dataclasses.replace(stack.worker(), send=sent.append)
    worker.handle(shard, 1, lambda: next(left, 10.0))  # stops after 80 lines
    for message in sent:
        stack.worker().handle(message, 1, lambda: 3600.0)

    # THEN every line is in the output once, in order
    done = client.batches.retrieve(batch_id)
    assert done.status == "completed"
    out = lines(client, done.output_file_id)
    assert [x["custom_id"] for x in out] == [r["custom_id"] for r in rows]
    assert billed(stack)["requests"] == 91


def test_a_shard_given_up_after_answering_bills_and_keeps_its_answered_lines(
    stack: Stack,
) -> None:
    client = stack.client()
    batch_id = create(stack, corpus_free_rows(50))
    [shard] = plan_and_take_shards(stack)
    # GIVEN a run that answered its lines and died while billing them
    with pytest.raises(RuntimeError, match="worker killed"):
        stack.worker(DyingRecorder(stack.recorder, 0)).handle(shard)
    # WHEN its message comes back for the last time
    stack.worker().handle(shard, MAX_RECEIVES)
    # THEN the batch failed, with the answered lines in its output file, each billed once
    done = client.batches.retrieve(batch_id)
    assert done.status == "failed"
    assert len(lines(client, done.output_file_id)) == 50
    assert billed(stack)["requests"] == 50


def test_a_finalization_failing_on_every_delivery_ends_its_batch_failed(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    client = stack.client()
    batch_id = create(stack, corpus_free_rows(20))
    [shard] = plan_and_take_shards(stack)
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr("handler.batch.assembly.STOP_SECONDS", 10_000.0)
    dataclasses.replace(stack.worker(), send=sent.append).handle(shard, 1, lambda: 5000.0)
    assert sent == [{"kind": "finalize", "batch_id": batch_id}]
    # WHEN the finalize message comes for the fifth time (it failed on the other four)
    stack.worker().handle(sent[0], MAX_RECEIVES)
    # THEN the batch ends failed with OpenAI's errors, not finalizing for good
    done = client.batches.retrieve(batch_id)
    assert done.status == "failed" and done.errors is not None
    assert done.errors.data[0].code == "server_error"
