"""The expiry sweep (handler/batch/expiry.py) on the live stack: the app on uvicorn with the
real `openai` client, S3/SQS on moto's server, the batch and usage tables on DynamoDB Local.

Time is moved by giving the sweep's worker a clock past the batch's window (as the shards'
own expiry test does); shard messages "never run" by being taken off the queue unhandled.
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from typing import Any

import httpx
import pytest

from handler.batch.expiry import GRACE_SECONDS, MAX_ATTEMPTS, sweep
from handler.batch.files import FileStore
from handler.batch.worker import Worker
from tests.batch.batch_support import Stack, corpus_free_rows, create, lines, plan_and_take_shards

pytestmark = pytest.mark.integration
DAY = 24 * 3600


def later(worker: Worker, seconds: float) -> Worker:
    return dataclasses.replace(worker, clock=lambda: time.time() + seconds)


def usage_requests(stack: Stack) -> int:
    got = httpx.get(
        f"{stack.base_url}/usage", headers={"Authorization": f"Bearer {stack.secrets['alice']}"}
    )
    assert got.status_code == 200
    return int(got.json()["total"]["requests"])


def test_a_batch_whose_shards_never_run_expires_keeping_the_finished_lines(stack: Stack) -> None:
    client = stack.client()
    rows = corpus_free_rows(250)  # 3 shards of 100
    batch_id = create(stack, rows)
    shards = plan_and_take_shards(stack)
    stack.worker().handle(shards[0])  # in time; the other two never run

    # GIVEN the window ended, but not yet GRACE_SECONDS ago: a shard may still be running
    early = sweep(later(stack.worker(), DAY + GRACE_SECONDS - 120))
    assert early.expired == [] and client.batches.retrieve(batch_id).status == "in_progress"

    # WHEN the sweep runs after the grace
    report = sweep(later(stack.worker(), DAY + GRACE_SECONDS + 60))

    # THEN the batch is expired with OpenAI's partial results
    assert report.expired == [batch_id] and report.shards == 2 and not report.unfinished
    done = client.batches.retrieve(batch_id)
    assert done.status == "expired" and done.expired_at
    counts = done.request_counts
    assert counts is not None and (counts.total, counts.completed, counts.failed) == (250, 100, 150)
    out = lines(client, done.output_file_id)
    assert [line["custom_id"] for line in out] == [r["custom_id"] for r in rows[:100]]
    errors = lines(client, done.error_file_id)
    assert [e["custom_id"] for e in errors] == [r["custom_id"] for r in rows[100:]]
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert all(e["response"] is None for e in errors)
    assert usage_requests(stack) == 100  # expired lines are not metered

    # AND it is idempotent: a second sweep finds nothing, the late messages change nothing
    again = sweep(later(stack.worker(), DAY + GRACE_SECONDS + 120))
    assert (again.expired, again.shards, again.finalized) == ([], 0, [])
    for message in shards[1:]:
        later(stack.worker(), DAY + GRACE_SECONDS + 180).handle(message)
    after = client.batches.retrieve(batch_id)
    assert after.request_counts == done.request_counts and after.status == "expired"
    assert lines(client, after.error_file_id) == errors
    assert usage_requests(stack) == 100


def test_a_batch_whose_plan_never_ran_expires_with_every_line_in_the_error_file(
    stack: Stack,
) -> None:
    client = stack.client()
    rows = corpus_free_rows(30)
    batch_id = create(stack, rows)
    stack.receive()  # the plan message is lost
    assert client.batches.retrieve(batch_id).status == "validating"

    report = sweep(later(stack.worker(), DAY + GRACE_SECONDS + 60))

    assert report.expired == [batch_id]
    done = client.batches.retrieve(batch_id)
    assert done.status == "expired" and done.output_file_id is None
    counts = done.request_counts
    assert counts is not None and (counts.total, counts.completed, counts.failed) == (30, 0, 30)
    errors = lines(client, done.error_file_id)
    assert [e["custom_id"] for e in errors] == [r["custom_id"] for r in rows]
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert stack.receive() == []  # the sweep ran the shards itself: nothing queued
    assert usage_requests(stack) == 0


class NoResultWrites:
    """The S3 client, except that writing a result file fails: a finalizer that dies."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"].startswith("files/"):
            raise RuntimeError("finalizer killed")
        return self.s3.put_object(**kwargs)


def test_a_finalization_that_died_is_finished_by_the_sweep(stack: Stack) -> None:
    client = stack.client()
    rows = corpus_free_rows(120)  # 2 shards
    batch_id = create(stack, rows)
    first, second = plan_and_take_shards(stack)
    stack.worker().handle(first)
    files = stack.service.files
    dying = dataclasses.replace(
        stack.worker(),
        files=FileStore(NoResultWrites(files.s3), files.dynamodb, files.bucket, files.table),
    )
    with pytest.raises(RuntimeError, match="finalizer killed"):
        dying.handle(second)  # its message would go to the DLQ after five of these
    assert client.batches.retrieve(batch_id).status == "finalizing"

    report = sweep(later(stack.worker(), DAY + GRACE_SECONDS + 60))

    assert report.finalized == [batch_id] and report.expired == []
    done = client.batches.retrieve(batch_id)
    assert done.status == "completed"  # every line ran in time
    assert [line["custom_id"] for line in lines(client, done.output_file_id)] == [
        r["custom_id"] for r in rows
    ]


def test_a_batch_whose_input_file_was_deleted_fails_and_the_others_expire(stack: Stack) -> None:
    client = stack.client()
    broken = create(stack, corpus_free_rows(20))
    plan_and_take_shards(stack)
    client.files.delete(client.batches.retrieve(broken).input_file_id)  # its lines are gone
    fine = create(stack, corpus_free_rows(20))
    plan_and_take_shards(stack)

    report = sweep(later(stack.worker(), DAY + GRACE_SECONDS + 60))

    assert report.failed == [] and report.expired == [fine]
    done = client.batches.retrieve(broken)
    assert done.status == "failed"  # not in_progress for good
    assert done.errors is not None and done.errors.data[0].code == "file_not_found"
    assert client.batches.retrieve(fine).status == "expired"


class PlanDies:
    """The S3 client, except that reading an input file kills the process (as an OOM would)."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def get_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"].startswith("files/"):
            raise MemoryError("planner killed")
        return self.s3.get_object(**kwargs)


def test_a_batch_no_sweep_can_end_fails_after_max_attempts(stack: Stack) -> None:
    client = stack.client()
    bad = create(stack, corpus_free_rows(5))
    stack.receive()  # its plan message is lost; every plan of it dies
    files = stack.service.files
    dying = dataclasses.replace(
        later(stack.worker(), DAY + GRACE_SECONDS + 60),
        files=FileStore(PlanDies(files.s3), files.dynamodb, files.bucket, files.table),
    )
    for _ in range(MAX_ATTEMPTS):
        report = sweep(dying)
        assert report.failed == [bad]
        assert client.batches.retrieve(bad).status == "validating"

    report = sweep(dying)

    assert report.gave_up == [bad]
    done = client.batches.retrieve(bad)
    assert done.status == "failed" and done.errors is not None
    assert done.errors.data[0].code == "server_error"
    assert sweep(dying).gave_up == []  # over: not tried again


def test_a_cancelling_batch_whose_shards_never_run_ends_cancelled(stack: Stack) -> None:
    client = stack.client()
    rows = corpus_free_rows(250)
    batch_id = create(stack, rows)
    shards = plan_and_take_shards(stack)
    stack.worker().handle(shards[0])
    assert client.batches.cancel(batch_id).status == "cancelling"  # the other messages: lost

    report = sweep(later(stack.worker(), DAY + GRACE_SECONDS + 60))

    assert report.cancelled == [batch_id]
    done = client.batches.retrieve(batch_id)
    assert done.status == "cancelled"
    assert len(lines(client, done.output_file_id)) == 100


def test_a_sweep_out_of_time_stops_and_the_next_one_finishes(stack: Stack) -> None:
    client = stack.client()
    batch_id = create(stack, corpus_free_rows(250))
    plan_and_take_shards(stack)
    budget = iter([3600.0, 3600.0, 30.0])  # after one shard, under a minute is left

    first = sweep(later(stack.worker(), DAY + GRACE_SECONDS + 60), lambda: next(budget, 30.0))

    assert first.unfinished and first.shards == 1 and first.expired == []
    assert client.batches.retrieve(batch_id).status == "in_progress"
    second = sweep(later(stack.worker(), DAY + GRACE_SECONDS + 120))
    assert second.shards == 2 and second.expired == [batch_id]
    counts = client.batches.retrieve(batch_id).request_counts
    assert counts is not None and (counts.total, counts.failed) == (250, 250)


def test_make_serves_local_workers_sweep_too(stack: Stack) -> None:
    import threading

    from handler.batch import table
    from handler.batch.items import to_item
    from tools.batch_local import sweep_loop

    client = stack.client()
    batch_id = create(stack, corpus_free_rows(10))
    stack.receive()  # the plan message is lost
    # GIVEN a batch whose window ended GRACE_SECONDS + 60 s ago (moved back, as time would)
    stack.service.batches.dynamodb.update_item(
        TableName=stack.settings.batch_table,
        Key=to_item({"pk": table.batch_pk(batch_id), "sk": table.META}),
        UpdateExpression="SET expires_at = :t",
        ExpressionAttributeValues=to_item({":t": int(time.time()) - GRACE_SECONDS - 60}),
    )
    stop = threading.Event()
    thread = threading.Thread(target=sweep_loop, args=(stack.worker(), stop, 0.2), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while client.batches.retrieve(batch_id).status != "expired":
            assert time.monotonic() < deadline, "the local sweep never expired the batch"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
    counts = client.batches.retrieve(batch_id).request_counts
    assert counts is not None and (counts.total, counts.failed) == (10, 10)


def test_a_sweep_that_makes_progress_does_not_count_towards_giving_up(stack: Stack) -> None:
    client = stack.client()
    batch_id = create(stack, corpus_free_rows(250))
    plan_and_take_shards(stack)
    # GIVEN sweeps with time for one step each (a shard, or a step of the finalization)
    sweeps = 0
    while client.batches.retrieve(batch_id).status != "expired":
        budget = partial(next, iter([3600.0, 3600.0]), 30.0)
        report = sweep(later(stack.worker(), DAY + GRACE_SECONDS + 60), budget)
        assert report.gave_up == [] and report.failed == []
        sweeps += 1
        assert sweeps < 20
    # THEN it took more than MAX_ATTEMPTS sweeps, and ended expired, not failed
    assert sweeps > MAX_ATTEMPTS
