"""The Batch API end to end with the real openai client over HTTP: files in moto's S3, work on
moto's SQS, state and usage in DynamoDB Local, workers polling the queue."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import orjson
import pytest
from openai.types import Batch

from tests.batch.batch_support import MODEL, Stack, jsonl, request_line, wait_for

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[2] / "model_artifacts" / "corpus" / "heldout.txt"
LINES = 10_000


def sentences() -> list[str]:
    return [s for s in CORPUS.read_text().splitlines() if s.strip()]


def corpus_rows(count: int, encoding_format: str = "float") -> list[dict[str, Any]]:
    """`count` request lines of 1-3 corpus sentences each."""
    texts = sentences()
    rows = []
    for i in range(count):
        inputs = [texts[(i * 7 + j) % len(texts)] + f" ({i})" for j in range(1 + i % 3)]
        body = {"model": MODEL, "input": inputs, "encoding_format": encoding_format}
        rows.append(request_line(f"doc-{i}", body))
    return rows


def decode(embedding: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(embedding), dtype="<f4")


def upload(client: openai.OpenAI, data: bytes) -> str:
    return client.files.create(file=("batch.jsonl", io.BytesIO(data)), purpose="batch").id


def submit(client: openai.OpenAI, data: bytes, **extra: Any) -> Batch:
    """Upload `data` and create a 24 h embeddings batch on it; the Batch object."""
    return client.batches.create(
        input_file_id=upload(client, data),
        endpoint="/v1/embeddings",
        completion_window="24h",
        **extra,
    )


def planned_shards(stack: Stack) -> list[dict[str, Any]]:
    """Run the one plan message on the queue; its shard messages' bodies, by shard."""
    [plan] = stack.receive()
    stack.worker().handle(orjson.loads(plan["Body"]))
    return sorted((orjson.loads(m["Body"]) for m in stack.receive()), key=lambda b: b["shard"])


def output_lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [orjson.loads(line) for line in client.files.content(file_id).content.splitlines()]


def usage_total(stack: Stack, name: str) -> dict[str, int]:
    got = httpx.get(
        f"{stack.base_url}/usage", headers={"Authorization": f"Bearer {stack.secrets[name]}"}
    )
    assert got.status_code == 200
    total: dict[str, int] = got.json()["total"]
    return total


def test_ten_thousand_lines_match_the_synchronous_route(stack: Stack) -> None:
    client = stack.client()
    # GIVEN a 10,000-line batch (base64 vectors, as the openai client asks for them), worked
    # by two workers polling the queue
    rows = corpus_rows(LINES, "base64")
    stack.start_workers(2)
    batch = submit(client, jsonl(rows), metadata={"run": "ten-thousand"})
    assert batch.status == "validating" and batch.metadata == {"run": "ten-thousand"}

    done = wait_for(client, batch.id, ("completed", "failed"))

    assert done.status == "completed", done.errors
    assert (done.request_counts.total, done.request_counts.completed) == (LINES, LINES)
    assert done.request_counts.failed == 0 and done.error_file_id is None
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    out = output_lines(client, done.output_file_id)
    # every line exactly once
    assert sorted(line["custom_id"] for line in out) == sorted(r["custom_id"] for r in rows)
    assert all(line["response"]["status_code"] == 200 and line["error"] is None for line in out)
    by_id = {line["custom_id"]: line["response"]["body"] for line in out}

    # THEN each line's vectors are the synchronous route's for the same inputs: bit for bit
    # when the same body is sent alone (same ONNX batch) ...
    for row in rows[:: LINES // 40]:
        sync = httpx.post(
            f"{stack.base_url}/embeddings",
            json=row["body"],
            headers={"Authorization": f"Bearer {stack.secrets['alice']}"},
        ).json()
        assert by_id[row["custom_id"]] == sync
    # ... and within the documented batch-mate wobble (cosine > 0.99) for every line, checked
    # against the route with many lines' inputs per request (the openai client, base64).
    flat = [
        (row["custom_id"], j, text) for row in rows for j, text in enumerate(row["body"]["input"])
    ]
    prompt_tokens = 0
    for start in range(0, len(flat), 2048):
        chunk = flat[start : start + 2048]
        sync = client.embeddings.create(model=MODEL, input=[text for _, _, text in chunk])
        prompt_tokens += sync.usage.prompt_tokens
        expected = np.array([d.embedding for d in sync.data], dtype=np.float32)
        got = np.array([decode(by_id[cid]["data"][j]["embedding"]) for cid, j, _ in chunk])
        assert float(np.min(np.sum(expected * got, axis=1))) > 0.99
    # the same token counts, and the usage ledger has each line once under the creating key
    batch_tokens = sum(body["usage"]["total_tokens"] for body in by_id.values())
    assert batch_tokens == prompt_tokens
    total = usage_total(stack, "alice")
    sync_requests = len(rows[:: LINES // 40]) + (len(flat) + 2047) // 2048
    assert total["requests"] == LINES + sync_requests
    assert total["total_tokens"] == 2 * batch_tokens + sum(
        by_id[row["custom_id"]]["usage"]["total_tokens"] for row in rows[:: LINES // 40]
    )


def test_malformed_lines_go_to_the_error_file_and_the_rest_complete(stack: Stack) -> None:
    client = stack.client()
    good = {"model": MODEL, "input": "a fine sentence"}
    lines = [
        orjson.dumps(request_line("ok-1", good)),
        b"{not json",
        b"",  # blank lines are skipped, not requests
        orjson.dumps({"method": "POST", "url": "/v1/embeddings", "body": good}),
        orjson.dumps({**request_line("bad-url", good), "url": "/v1/chat/completions"}),
        orjson.dumps({**request_line("bad-method", good), "method": "GET"}),
        orjson.dumps(request_line("no-input", {"model": MODEL})),
        orjson.dumps(request_line("bad-model", {"model": "gpt-9", "input": "x"})),
        orjson.dumps(request_line("too-long", {"model": MODEL, "input": "word " * 9000})),
        orjson.dumps(request_line("bad-dims", {**good, "dimensions": 999})),
        orjson.dumps(request_line("ok-2", {**good, "dimensions": 8, "encoding_format": "base64"})),
    ]
    stack.start_workers(1)
    batch = submit(client, b"\n".join(lines) + b"\n")
    done = wait_for(client, batch.id, ("completed", "failed"))

    assert done.status == "completed"
    counts = done.request_counts
    assert (counts.total, counts.completed, counts.failed) == (10, 2, 8)
    out = output_lines(client, done.output_file_id)
    assert [line["custom_id"] for line in out] == ["ok-1", "ok-2"]
    vector = decode(out[1]["response"]["body"]["data"][0]["embedding"])
    assert vector.shape == (8,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    errors = {line["id"]: line for line in output_lines(client, done.error_file_id)}
    assert len(errors) == 8 and all(e["id"].startswith("batch_req_") for e in errors.values())
    # lines that are not requests: response null, error {code, message} naming the line
    broken = {e["error"]["code"]: e for e in errors.values() if e["response"] is None}
    assert set(broken) == {
        "invalid_json_line",
        "invalid_custom_id",
        "invalid_url",
        "invalid_method",
    }
    assert broken["invalid_json_line"]["error"]["message"].startswith("Line 2:")
    assert broken["invalid_url"]["custom_id"] == "bad-url"
    # requests the API refuses: the same status and envelope as the synchronous route
    refused = {e["custom_id"]: e["response"] for e in errors.values() if e["response"]}
    assert {k: r["status_code"] for k, r in refused.items()} == {
        "no-input": 400,
        "bad-model": 404,
        "too-long": 400,
        "bad-dims": 400,
    }
    for custom_id, response in refused.items():
        row = next(orjson.loads(raw) for raw in lines if b'"' + custom_id.encode() + b'"' in raw)
        sync = httpx.post(
            f"{stack.base_url}/embeddings",
            json=row["body"],
            headers={"Authorization": f"Bearer {stack.secrets['alice']}"},
        )
        assert (response["status_code"], response["body"]) == (sync.status_code, sync.json())
    # only the two good lines are metered (plus nothing for the refused sync calls)
    assert usage_total(stack, "alice")["requests"] == 2


def test_a_duplicated_message_a_worker_killed_mid_shard_or_a_ledger_down_change_nothing(
    stack: Stack,
) -> None:
    from batch_support import DyingRecorder, UnreachableLedger

    from handler.batch.worker import UsageNotRecordedError

    client = stack.client()
    rows = corpus_rows(350)  # 4 shards of up to 100 lines
    batch = submit(client, jsonl(rows))
    # the plan message, handled twice (SQS delivers at least once)
    [plan] = stack.receive()
    stack.worker().handle(orjson.loads(plan["Body"]))
    stack.worker().handle(orjson.loads(plan["Body"]))
    shard_messages = stack.receive()
    bodies = [orjson.loads(m["Body"]) for m in shard_messages]
    # each shard was queued at least once, some twice (the plan ran twice)
    assert {b["shard"] for b in bodies} == {1, 2, 3, 4}
    first = next(b for b in bodies if b["shard"] == 1)
    # a worker dies mid-shard, after its part's usage record reached the ledger (the shard
    # is run again after its usage was written)
    with pytest.raises(RuntimeError, match="worker killed"):
        stack.worker(DyingRecorder(stack.recorder, 1)).handle(first)
    # and another dies before its part's usage reached the ledger
    third = next(b for b in bodies if b["shard"] == 3)
    with pytest.raises(RuntimeError, match="worker killed"):
        stack.worker(DyingRecorder(stack.recorder, 0)).handle(third)
    # a worker whose usage reaches only the log gives the shard back, to run again
    second = next(b for b in bodies if b["shard"] == 2)
    with pytest.raises(UsageNotRecordedError):
        stack.worker(UnreachableLedger()).handle(second)
    assert client.batches.retrieve(batch.id).request_counts.completed == 0
    # then every message is handled, each shard's twice, shard 1 also by a later redelivery
    for body in bodies + bodies:
        stack.worker().handle(body)
    stack.worker().handle(first)

    done = client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert (done.request_counts.total, done.request_counts.completed) == (350, 350)
    out = output_lines(client, done.output_file_id)
    assert [line["custom_id"] for line in out] == [r["custom_id"] for r in rows]  # in order, once
    total = usage_total(stack, "alice")
    assert total["requests"] == 350
    assert total["total_tokens"] == sum(
        line["response"]["body"]["usage"]["total_tokens"] for line in out
    )
    # the Batch object's usage, once final, is what the ledger billed
    assert done.usage is not None
    assert (done.usage.input_tokens, done.usage.output_tokens) == (total["total_tokens"], 0)
    assert done.usage.total_tokens == total["total_tokens"]
    assert done.usage.input_tokens_details.cached_tokens == 0
    assert done.usage.output_tokens_details.reasoning_tokens == 0


def test_cancel_stops_new_shards_and_keeps_partial_results(stack: Stack) -> None:
    client = stack.client()
    rows = corpus_rows(300)  # 3 shards
    batch = submit(client, jsonl(rows))
    shards = planned_shards(stack)
    stack.worker().handle(shards[0])  # one shard finished before the cancel

    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    assert cancelling.usage is None  # not final yet
    assert client.batches.cancel(batch.id).status == "cancelling"  # twice is fine
    for body in shards[1:]:
        stack.worker().handle(body)

    done = client.batches.retrieve(batch.id)
    assert done.status == "cancelled" and done.cancelled_at
    assert done.usage is not None and done.usage.total_tokens > 0  # the finished shard's
    assert (done.request_counts.completed, done.request_counts.failed) == (100, 0)
    out = output_lines(client, done.output_file_id)
    assert [line["custom_id"] for line in out] == [r["custom_id"] for r in rows[:100]]
    assert client.batches.cancel(batch.id).status == "cancelled"  # nothing left to cancel


def test_cancel_before_planning(stack: Stack) -> None:
    client = stack.client()
    batch = submit(client, jsonl(corpus_rows(5)))
    assert client.batches.cancel(batch.id).status == "cancelling"
    stack.start_workers(1)
    done = wait_for(client, batch.id, ("cancelled",), timeout=60)
    assert done.output_file_id is None and done.request_counts.completed == 0


def test_output_expires_after_sets_when_the_result_files_expire(stack: Stack) -> None:
    client = stack.client()
    stack.start_workers(1)
    rows = [*corpus_rows(2), request_line("bad", {"model": "no-such-model", "input": "x"})]
    batch = submit(
        client, jsonl(rows), output_expires_after={"anchor": "created_at", "seconds": 7200}
    )
    done = wait_for(client, batch.id, ("completed",), timeout=120)
    for file_id in (done.output_file_id, done.error_file_id):
        assert file_id is not None
        stored = client.files.retrieve(file_id)
        # anchored at the file's creation (OpenAI's anchor), not the batch's
        assert stored.expires_at == stored.created_at + 7200
    # without it, a result file lives as long as the bucket keeps files
    other = submit(client, jsonl(corpus_rows(1)))
    kept = wait_for(client, other.id, ("completed",), timeout=120)
    assert kept.output_file_id is not None
    stored = client.files.retrieve(kept.output_file_id)
    retention = stack.settings.batch_file_retention_days * 86400
    assert stored.expires_at == stored.created_at + retention


def test_a_completed_batch_cannot_be_cancelled(stack: Stack) -> None:
    client = stack.client()
    stack.start_workers(1)
    batch = submit(client, jsonl(corpus_rows(3)))
    wait_for(client, batch.id, ("completed",), timeout=120)
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id)


def test_another_key_gets_404_for_the_batch_and_its_files(stack: Stack) -> None:
    alice, bob = stack.client("alice"), stack.client("bob")
    stack.start_workers(1)
    input_id = upload(alice, jsonl(corpus_rows(3)))
    with pytest.raises(openai.NotFoundError):  # bob cannot batch alice's file
        bob.batches.create(
            input_file_id=input_id, endpoint="/v1/embeddings", completion_window="24h"
        )
    batch = alice.batches.create(
        input_file_id=input_id, endpoint="/v1/embeddings", completion_window="24h"
    )
    done = wait_for(alice, batch.id, ("completed",), timeout=120)
    for call in (bob.batches.retrieve, bob.batches.cancel):
        with pytest.raises(openai.NotFoundError):
            call(batch.id)
    assert bob.batches.list().data == []
    for file_id in (input_id, done.output_file_id):
        assert file_id is not None
        with pytest.raises(openai.NotFoundError):
            bob.files.content(file_id)
        assert alice.files.retrieve(file_id).id == file_id
    assert [b.id for b in alice.batches.list()] == [batch.id]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"endpoint": "/v1/embeddings", "completion_window": "24h"}, 400, "input_file_id"),
        (
            {"input_file_id": "F", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
            400,
            "endpoint",
        ),
        (
            {"input_file_id": "F", "endpoint": "/v1/embeddings", "completion_window": "1h"},
            400,
            "completion_window",
        ),
        (
            {
                "input_file_id": "F",
                "endpoint": "/v1/embeddings",
                "completion_window": "24h",
                "metadata": {"k": 1},
            },
            400,
            "metadata",
        ),
        *(
            (
                {
                    "input_file_id": "F",
                    "endpoint": "/v1/embeddings",
                    "completion_window": "24h",
                    "output_expires_after": expires,
                },
                400,
                param,
            )
            for expires, param in (
                ({"anchor": "created_at", "seconds": 3599}, "output_expires_after.seconds"),
                ({"anchor": "created_at", "seconds": 2_592_001}, "output_expires_after.seconds"),
                ({"anchor": "created_at", "seconds": "3600"}, "output_expires_after.seconds"),
                ({"anchor": "completed_at", "seconds": 3600}, "output_expires_after.anchor"),
                ({"seconds": 3600}, "output_expires_after.anchor"),
                ("1h", "output_expires_after"),
            )
        ),
        (
            {
                "input_file_id": "file-nope",
                "endpoint": "/v1/embeddings",
                "completion_window": "24h",
            },
            404,
            "input_file_id",
        ),
    ],
)
def test_bad_create_requests_get_openai_errors(
    stack: Stack, body: dict[str, Any], status: int, param: str
) -> None:
    if body.get("input_file_id") == "F":
        body = {**body, "input_file_id": upload(stack.client(), b"{}\n")}
    got = httpx.post(
        f"{stack.base_url}/batches",
        json=body,
        headers={"Authorization": f"Bearer {stack.secrets['alice']}"},
    )
    assert got.status_code == status
    error = got.json()["error"]
    assert error["param"] == param and error["message"]


def over_the_input_limit() -> bytes:
    """OpenAI's 50,000 embedding inputs across a batch's requests, in 26 lines: 25 of 2,000
    inputs are exactly the limit, line 26's one input is over it."""
    rows = [request_line(f"r{i}", {"model": MODEL, "input": ["x"] * 2000}) for i in range(25)]
    return jsonl([*rows, request_line("r25", {"model": MODEL, "input": "one too many"})])


@pytest.mark.parametrize(
    ("data", "code", "line", "param"),
    [
        (jsonl(corpus_rows(2) + corpus_rows(1)), "duplicate_custom_id", 3, "custom_id"),
        (b"\n\n", "empty_file", None, None),
        (over_the_input_limit(), "too_many_inputs", 26, "body.input"),
    ],
)
def test_a_file_that_cannot_be_a_batch_fails_it(
    stack: Stack, data: bytes, code: str, line: int | None, param: str | None
) -> None:
    client = stack.client()
    stack.start_workers(1)
    batch = submit(client, data)
    failed = wait_for(client, batch.id, ("failed",), timeout=60)
    assert failed.failed_at and failed.errors is not None and failed.errors.data
    # OpenAI's BatchError: code, message, and the line and param that failed validation
    error = failed.errors.data[0]
    assert (error.code, error.line, error.param) == (code, line, param) and error.message
    assert failed.output_file_id is None and usage_total(stack, "alice")["requests"] == 0


def test_a_batch_past_its_window_expires_keeping_the_finished_lines(stack: Stack) -> None:
    import dataclasses
    import time

    client = stack.client()
    rows = corpus_rows(250)  # 3 shards
    batch = submit(client, jsonl(rows))
    shards = planned_shards(stack)
    stack.worker().handle(shards[0])  # in time
    late = dataclasses.replace(stack.worker(), clock=lambda: time.time() + 25 * 3600)
    for body in shards[1:]:
        late.handle(body)

    done = client.batches.retrieve(batch.id)
    assert done.status == "expired" and done.expired_at
    counts = done.request_counts
    assert (counts.total, counts.completed, counts.failed) == (250, 100, 150)
    out = output_lines(client, done.output_file_id)
    assert [line["custom_id"] for line in out] == [r["custom_id"] for r in rows[:100]]
    errors = output_lines(client, done.error_file_id)
    assert [e["custom_id"] for e in errors] == [r["custom_id"] for r in rows[100:]]
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert usage_total(stack, "alice")["requests"] == 100  # expired lines are not metered
