"""Batches under their key's quotas (issue 17, items 1 and 12), end to end on moto's S3/SQS
and DynamoDB Local: a batch's lines are admitted against the key's monthly budget as they
run (the lines over it get `insufficient_quota`), their tokens reach the monthly counter the
synchronous route checks, a batch is refused at creation once the budget is spent, and a
revoked key's batch stops unbilled."""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import openai
import orjson
import pytest

from handler.batch.admission import LineAdmission, admission_for
from handler.batch.lines import LineResult, PreparedLine, prepare_line
from handler.batch.worker import Worker
from handler.usage.keys import ApiKey, KeyStore, Limits
from handler.usage.store import month_key
from tests.batch.batch_support import MODEL, Stack, drain, jsonl, request_line

pytestmark = pytest.mark.integration
TEXT = "the quick brown fox jumps over the lazy dog " * 2


def key_store(stack: Stack) -> KeyStore:
    return KeyStore(stack.service.batches.dynamodb, stack.settings.keys_table)


def admitting_worker(stack: Stack) -> Worker:
    return stack.service.worker(stack.embedder, stack.recorder, admission_for(stack.recorder))  # type: ignore[arg-type]


def prepared(stack: Stack, line_no: int) -> PreparedLine:
    raw = orjson.dumps(request_line("r-0", {"model": MODEL, "input": TEXT}))
    line = prepare_line(raw, line_no, "x", "/v1/embeddings", stack.embedder, stack.settings)
    assert isinstance(line, PreparedLine)
    return line


def client_for(stack: Stack, secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=stack.base_url, max_retries=0)


def create_batch(client: openai.OpenAI, rows: list[dict[str, Any]]) -> Any:
    file_id = client.files.create(file=("b.jsonl", io.BytesIO(jsonl(rows))), purpose="batch").id
    return client.batches.create(
        input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
    )


def month_tokens(stack: Stack, key_id: str) -> int:
    month = datetime.now(UTC).strftime("%Y-%m")
    item = stack.service.batches.dynamodb.get_item(
        TableName=stack.settings.usage_table, Key=month_key(key_id, month), ConsistentRead=True
    ).get("Item")
    return int(item["tokens"]["N"]) if item else 0


def ledger_records(stack: Stack, key_id: str) -> int:
    items = stack.service.batches.dynamodb.scan(TableName=stack.settings.usage_table)["Items"]
    return sum(1 for i in items if i["pk"]["S"].startswith("REQ#") and i["key_id"]["S"] == key_id)


def test_batch_lines_are_admitted_against_the_monthly_budget(stack: Stack) -> None:
    # GIVEN a key whose monthly budget holds exactly 5 of 10 lines
    line_tokens = sum(stack.embedder.tokenize([TEXT]).token_counts)
    secret, key = key_store(stack).create("capped", Limits(monthly_tokens=5 * line_tokens))
    client = client_for(stack, secret)
    rows = [request_line(f"r-{i}", {"model": MODEL, "input": TEXT}) for i in range(10)]
    # WHEN it runs a batch of them
    batch = create_batch(client, rows)
    drain(stack, admitting_worker(stack))
    done = client.batches.retrieve(batch.id)
    # THEN 5 lines have vectors and 5 got OpenAI's insufficient_quota line error
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (5, 5)
    assert done.error_file_id is not None
    errors = [
        orjson.loads(x) for x in client.files.content(done.error_file_id).content.splitlines()
    ]
    assert {e["response"]["status_code"] for e in errors} == {429}
    assert {e["response"]["body"]["error"]["code"] for e in errors} == {"insufficient_quota"}
    # AND the batch's tokens are on the monthly counter, so the sync route is refused
    assert month_tokens(stack, key.key_id) == 5 * line_tokens
    with pytest.raises(openai.RateLimitError) as sync:
        client.embeddings.create(model=MODEL, input="hello")
    assert sync.value.code == "insufficient_quota"
    # AND so is a new batch, at creation
    with pytest.raises(openai.RateLimitError) as refused:
        create_batch(client, rows[:1])
    assert refused.value.code == "insufficient_quota"
    # AND the group admitted asked again (its shard run again) is charged nothing twice
    item = stack.service.batches.get(batch.id)
    assert item is not None
    admission = admission_for(stack.recorder)  # type: ignore[arg-type]
    again = admission.admit(item, [prepared(stack, n) for n in range(1, 11)])
    assert sorted(again) == [6, 7, 8, 9, 10]  # the same lines refused as the first time
    assert month_tokens(stack, key.key_id) == 5 * line_tokens


def test_a_revoked_keys_batch_stops_and_is_not_billed(stack: Stack) -> None:
    # GIVEN a batch of three shards, planned
    secret, key = key_store(stack).create("leaving", Limits(monthly_tokens=10**9))
    client = client_for(stack, secret)
    rows = [request_line(f"r-{i}", {"model": MODEL, "input": TEXT}) for i in range(250)]
    batch = create_batch(client, rows)
    [plan] = stack.receive()
    worker = admitting_worker(stack)
    worker.handle(orjson.loads(plan["Body"]))
    # WHEN its key is revoked before the shards run
    assert key_store(stack).revoke(key.key_id)
    drain(stack, worker)
    # THEN the batch ends cancelled, with no line run, billed or charged
    item = stack.service.batches.get(batch.id)
    assert item is not None and item["status"] == "cancelled"
    assert item["completed"] == 0
    assert ledger_records(stack, key.key_id) == 0
    assert month_tokens(stack, key.key_id) == 0


def test_a_revoked_keys_batch_is_not_planned(stack: Stack) -> None:
    # GIVEN a batch created, WHEN its key is revoked before its plan runs
    secret, key = key_store(stack).create("gone", Limits(monthly_tokens=10**9))
    client = client_for(stack, secret)
    batch = create_batch(client, [request_line("r-0", {"model": MODEL, "input": TEXT})])
    [plan] = stack.receive()
    assert key_store(stack).revoke(key.key_id)
    admitting_worker(stack).handle(orjson.loads(plan["Body"]))
    # THEN it fails without its file being planned: no shards, nothing billed
    item = stack.service.batches.get(batch.id)
    assert item is not None and item["status"] == "failed"
    assert item["errors"]["data"][0]["code"] == "key_revoked"
    assert item["shards_total"] == 0 and stack.receive() == []
    assert ledger_records(stack, key.key_id) == 0


class DiesAfterAdmitting:
    """The key's admission, then the worker dies: its group is charged, its part not counted."""

    def __init__(self, admission: LineAdmission) -> None:
        self.admission = admission

    def __getattr__(self, name: str) -> Any:
        return getattr(self.admission, name)

    def admit(self, batch: dict[str, Any], lines: Sequence[PreparedLine]) -> dict[int, LineResult]:
        self.admission.admit(batch, lines)
        raise RuntimeError("worker killed")


def planned_under_budget(
    stack: Stack, name: str, lines: int
) -> tuple[openai.OpenAI, ApiKey, Any, LineAdmission, list[dict[str, Any]]]:
    """A key with a monthly budget, a batch of `lines` lines of it planned by a worker with
    the key's admission: (its client, the key, the batch, the admission, the shard messages)."""
    secret, key = key_store(stack).create(name, Limits(monthly_tokens=10**9))
    client = client_for(stack, secret)
    rows = [request_line(f"r-{i}", {"model": MODEL, "input": TEXT}) for i in range(lines)]
    batch = create_batch(client, rows)
    [plan] = stack.receive()
    admission = admission_for(stack.recorder)  # type: ignore[arg-type]
    stack.service.worker(stack.embedder, stack.recorder, admission).handle(
        orjson.loads(plan["Body"])
    )
    return client, key, batch, admission, [orjson.loads(m["Body"]) for m in stack.receive()]


@pytest.mark.parametrize("stop", ["cancelled", "revoked"])
def test_a_group_admitted_by_a_dead_run_is_refunded_when_its_shard_stops(
    stack: Stack, stop: str
) -> None:
    # GIVEN a two-shard batch under a monthly budget, its first shard done
    line_tokens = sum(stack.embedder.tokenize([TEXT]).token_counts)
    client, key, batch, admission, (first, second) = planned_under_budget(stack, "refund", 150)
    worker = stack.service.worker(stack.embedder, stack.recorder, admission)
    worker.handle(first)
    charged_for_first = month_tokens(stack, key.key_id)
    assert charged_for_first == 100 * line_tokens
    # AND a run of the second shard admitted its group, then died before its part counted
    dying = stack.service.worker(stack.embedder, stack.recorder, DiesAfterAdmitting(admission))
    with pytest.raises(RuntimeError, match="worker killed"):
        dying.handle(second)
    assert month_tokens(stack, key.key_id) == 150 * line_tokens  # charged, not delivered
    # WHEN the batch stops before the shard runs again (cancelled, or its key revoked)
    if stop == "cancelled":
        assert client.batches.cancel(batch.id).status == "cancelling"
    else:
        assert key_store(stack).revoke(key.key_id)
    worker.handle(second)
    # THEN the dead run's group is given back: the month holds the delivered lines only
    item = stack.service.batches.get(batch.id)
    assert item is not None and item["status"] == "cancelled"
    assert item["completed"] == 100
    assert month_tokens(stack, key.key_id) == charged_for_first


def test_a_group_admitted_by_a_dead_run_is_refunded_when_its_lines_expire(stack: Stack) -> None:
    # GIVEN a one-shard batch under a monthly budget whose run admitted a group and died
    _, key, batch, admission, [shard] = planned_under_budget(stack, "expiring", 20)
    dying = stack.service.worker(stack.embedder, stack.recorder, DiesAfterAdmitting(admission))
    with pytest.raises(RuntimeError, match="worker killed"):
        dying.handle(shard)
    assert month_tokens(stack, key.key_id) > 0
    # WHEN the shard comes back after the batch's completion window
    late = stack.service.worker(stack.embedder, stack.recorder, admission)
    dataclasses.replace(late, clock=lambda: time.time() + 2 * 86400).handle(shard)
    # THEN its lines failed unrun, and the month holds none of their tokens
    item = stack.service.batches.get(batch.id)
    assert item is not None and item["status"] == "expired" and item["completed"] == 0
    assert month_tokens(stack, key.key_id) == 0
