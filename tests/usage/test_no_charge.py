"""No charge for nothing: a request that gets no embeddings keeps no quota charge.

A response known too large is refused before any quota is taken; a failure after the quota
check (a 413 found once the body is built, a model error, a timeout, a DynamoDB timeout in
the quota check itself) gives the minute and monthly charge back. Quota counters live in
DynamoDB Local, where conditions behave as in AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient
from usage_support import Faults, Tables

from handler.embedder import Embedder, Tokenized
from handler.embedding_response import embeddings_body, lambda_payload_size, least_payload_size
from handler.records import MAX_MODEL_CHARS, MAX_USER_CHARS
from handler.usage.keys import KeyStore, Limits
from handler.usage.service import UsageService

MODEL = "all-MiniLM-L6-v2"
MakeApp = Callable[..., tuple[FastAPI, UsageService]]
LIMITS = Limits(rpm=100, tpm=1_000_000, monthly_tokens=10_000_000)


def counters(tables: Tables) -> dict[str, tuple[int, int]]:
    """{"MIN"/"MON": (requests, tokens)} of the quota counters in the table."""
    items = tables.client.scan(TableName=tables.usage, ConsistentRead=True)["Items"]
    found = {}
    for item in items:  # one item per key and month holds the minute's and month's counts
        if item["sk"]["S"].startswith("MON#"):
            if "minute_id" in item:
                minute = (int(item["minute_requests"]["N"]), int(item["minute_tokens"]["N"]))
                found["MIN"] = minute
            if "tokens" in item:
                found["MON"] = (0, int(item["tokens"]["N"]))
    return found


class ModelCalls:
    """Counts the embedder's model runs; `fail` makes them raise instead."""

    def __init__(self, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.fail: BaseException | None = None
        run = embedder.run

        def counted(tokenized: Tokenized) -> np.ndarray:
            self.calls += 1
            if self.fail is not None:
                raise self.fail
            return run(tokenized)

        monkeypatch.setattr(embedder, "run", counted)


@pytest.fixture
def model_calls(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> ModelCalls:
    return ModelCalls(embedder, monkeypatch)


def post(client: TestClient, secret: str, inputs: list[str], **extra: Any) -> Any:
    headers = {"Authorization": f"Bearer {secret}", "Accept-Encoding": extra.pop("accept", "")}
    body = {"model": MODEL, "input": inputs, **extra}
    return client.post("/v1/embeddings", json=body, headers=headers)


@pytest.mark.integration
def test_a_response_known_too_large_is_refused_before_any_quota_or_model_work(
    make_app: MakeApp, local_tables: Tables, model_calls: ModelCalls
) -> None:
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create("app", LIMITS)
    app, _ = make_app(local_tables)
    with TestClient(app) as client:
        # 2,048 float vectors without gzip: ~9.5 MB, over Lambda's 6 MB
        floats = post(client, secret, ["hi"] * 2048, encoding_format="float")
    assert floats.status_code == 413
    error = floats.json()["error"]
    assert (error["code"], error["param"]) == ("response_too_large", "input")
    assert "at least" in error["message"]
    # its request counts against the RPM (every request does), no tokens
    assert model_calls.calls == 0 and counters(local_tables) == {"MIN": (1, 0)}

    small, _ = make_app(local_tables, max_response_bytes=100_000)
    with TestClient(small) as client:
        # base64's size does not depend on the values: known exactly
        b64 = post(client, secret, ["hi"] * 100, encoding_format="base64")
        assert b64.status_code == 413 and "at least" not in b64.json()["error"]["message"]
        fits = post(client, secret, ["hi"] * 10, encoding_format="base64")
        assert fits.status_code == 200
    assert model_calls.calls == 1
    tokens = fits.json()["usage"]["total_tokens"]
    assert counters(local_tables) == {"MIN": (3, tokens), "MON": (0, tokens)}


@pytest.mark.integration
def test_a_413_found_after_the_model_gives_the_charge_back(
    make_app: MakeApp, local_tables: Tables, model_calls: ModelCalls
) -> None:
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create("app", LIMITS)
    app, _ = make_app(local_tables, max_response_bytes=100_000)
    with TestClient(app) as client:
        # gzipped floats: the size is only known once compressed
        response = post(client, secret, [f"text {n}" for n in range(200)], accept="gzip")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "response_too_large"
    assert model_calls.calls == 1
    assert counters(local_tables) == {"MIN": (1, 0), "MON": (0, 0)}  # the request stays counted


@pytest.mark.integration
@pytest.mark.parametrize(
    "failure",
    [RuntimeError("onnxruntime: bad allocation"), TimeoutError("model took too long")],
    ids=["model error", "timeout"],
)
def test_a_model_failure_gives_the_charge_back(
    make_app: MakeApp, local_tables: Tables, model_calls: ModelCalls, failure: Exception
) -> None:
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create("app", LIMITS)
    app, _ = make_app(local_tables)
    with TestClient(app) as client:
        ok = post(client, secret, ["first one is fine"])
        model_calls.fail = failure
        failed = post(client, secret, ["this one fails"])
    assert ok.status_code == 200 and failed.status_code == 500
    assert failed.json()["error"]["type"] == "server_error"
    tokens = ok.json()["usage"]["total_tokens"]
    # both requests count, only the first one's tokens
    assert counters(local_tables) == {"MIN": (2, tokens), "MON": (0, tokens)}


@pytest.mark.integration
def test_a_dynamodb_timeout_in_the_quota_write_charges_only_the_request(
    make_app: MakeApp, local_tables: Tables, model_calls: ModelCalls
) -> None:
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create("app", LIMITS)
    app, _ = make_app(local_tables)
    # UpdateItem: the one quota write (request, minute tokens and month together) times out
    # on every attempt; then the failed request is still counted (RPM), nothing else
    steps = ["timeout", "timeout", "timeout", "pass"]
    faults = Faults(local_tables.client, "UpdateItem", steps)
    with TestClient(app) as client:
        response = post(client, secret, ["hello"])
    assert response.status_code == 500 and faults.attempts == 4  # 3 + the request's count
    assert model_calls.calls == 0
    assert counters(local_tables) == {"MIN": (1, 0)}  # no tokens charged, the request counted


@pytest.mark.functional
@pytest.mark.parametrize("dimensions", [2, 16, 128, 384])
def test_the_size_floor_never_exceeds_the_real_size(
    embedder: Embedder, model_dir: Path, dimensions: int
) -> None:
    """The floor that refuses a float response early must be a floor for real vectors."""
    corpus = Path(__file__).resolve().parents[2] / "model_artifacts/corpus/heldout.txt"
    texts = corpus.read_text().splitlines()[:200] + ["a", "ok", "1", "!!!"]
    vectors = embedder.embed(texts, long_inputs="truncate").vectors[:, :dimensions]
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for fmt in ("float", "base64"):
        batches = [row[None, :] for row in vectors] + [vectors, np.tile(vectors, (12, 1))]
        for batch in batches:  # one vector at a time, 204 and 2,448 together
            real = lambda_payload_size(embeddings_body(batch, MODEL, 7, fmt), False)
            floor = least_payload_size(len(batch), dimensions, MODEL, 7, fmt)
            assert floor == real if fmt == "base64" else floor <= real


@pytest.mark.integration
def test_an_overlong_user_or_model_is_a_400_before_any_quota_or_model_work(
    make_app: MakeApp, local_tables: Tables, model_calls: ModelCalls
) -> None:
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create("app", LIMITS)
    app, _ = make_app(local_tables)
    with TestClient(app) as client:
        user = post(client, secret, ["hello"], user="u" * (MAX_USER_CHARS + 1))
        model = client.post(
            "/v1/embeddings",
            json={"model": "m" * (MAX_MODEL_CHARS + 1), "input": "hello"},
            headers={"Authorization": f"Bearer {secret}"},
        )
        fits = post(client, secret, ["hello"], user="u" * MAX_USER_CHARS)
    assert user.status_code == 400 and user.json()["error"]["param"] == "user"
    assert model.status_code == 400 and model.json()["error"]["param"] == "model"
    assert fits.status_code == 200 and model_calls.calls == 1
    tokens = fits.json()["usage"]["total_tokens"]
    assert counters(local_tables) == {"MIN": (3, tokens), "MON": (0, tokens)}
