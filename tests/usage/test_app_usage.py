"""The app with keys, quotas and usage wired in, end to end over moto's DynamoDB and SQS."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import KeyStore, Limits
from handler.usage.replay import replay
from handler.usage.service import UsageService
from tests.usage.usage_support import Faults, Tables

MODEL = "all-MiniLM-L6-v2"
MakeApp = Callable[..., tuple[FastAPI, UsageService]]


def embed(client: TestClient, secret: str | None, text: Any = "hello world", **extra: Any) -> Any:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    body = {"model": MODEL, "input": text, **extra}
    return client.post("/v1/embeddings", json=body, headers=headers)


@pytest.fixture
def keys(moto_tables: Tables) -> KeyStore:
    return KeyStore(moto_tables.client, moto_tables.keys)


@pytest.mark.functional
def test_missing_key_is_a_401_with_openais_message(make_app: MakeApp, moto_tables: Tables) -> None:
    app, _ = make_app(moto_tables)
    with TestClient(app) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
            response = client.post(
                "/v1/embeddings", json={"model": MODEL, "input": "x"}, headers=headers
            )
            assert response.status_code == 401
            error = response.json()["error"]
            assert error["message"].startswith("You didn't provide an API key.")
            assert (error["type"], error["param"], error["code"]) == (
                "invalid_request_error",
                None,
                None,
            )


@pytest.mark.functional
def test_unknown_and_revoked_keys_are_invalid_api_key(
    make_app: MakeApp, moto_tables: Tables, keys: KeyStore
) -> None:
    secret, key = keys.create("app")
    app, _ = make_app(moto_tables)
    with TestClient(app) as client:
        assert embed(client, secret).status_code == 200
        wrong = embed(client, "sk-not-a-key")
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        assert "sk-not-a-key" not in wrong.text
        keys.revoke(key.key_id)
        revoked = embed(client, secret)  # key_cache_seconds=0 here: revocation is immediate
        assert revoked.status_code == 401
        assert revoked.json()["error"]["code"] == "invalid_api_key"
        assert (
            client.get("/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 401
        )


@pytest.mark.functional
def test_limited_key_gets_ratelimit_headers_then_a_429(
    make_app: MakeApp, moto_tables: Tables, keys: KeyStore
) -> None:
    secret, key = keys.create("app", Limits(rpm=2, tpm=10_000))
    app, service = make_app(moto_tables)
    with TestClient(app) as client:
        first = embed(client, secret)
        tokens = first.json()["usage"]["total_tokens"]
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert first.headers["x-ratelimit-limit-tokens"] == "10000"
        assert first.headers["x-ratelimit-remaining-tokens"] == str(10_000 - tokens)
        assert first.headers["x-ratelimit-reset-requests"].endswith("s")
        assert embed(client, secret).headers["x-ratelimit-remaining-requests"] == "0"
        limited = embed(client, secret)
        assert limited.status_code == 429
        assert limited.json()["error"]["type"] == "requests"
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["x-ratelimit-remaining-requests"] == "0"
        # every route counts against the RPM: /v1/usage is refused too this minute
        over = client.get("/v1/usage", headers={"Authorization": f"Bearer {secret}"})
        assert over.status_code == 429 and over.json()["error"]["type"] == "requests"
    usage = service.usage(key.key_id, [])
    today = usage["data"][-1]
    assert today["requests"] == 2 and today["total_tokens"] == 2 * tokens  # the 429 is not


@pytest.mark.functional
def test_deployment_default_limits_keys_without_their_own(
    make_app: MakeApp, moto_tables: Tables, keys: KeyStore
) -> None:
    # GIVEN a deployment default of 2 requests and 10,000 tokens per minute
    plain, _ = keys.create("no limits of its own")
    roomy, _ = keys.create("own higher rpm", Limits(rpm=100))
    free, _ = keys.create("opted out", Limits(rpm=0, tpm=0))
    app, _ = make_app(moto_tables, default_rpm=2, default_tpm=10_000)
    if time.time() % 60 > 40:  # the quota window is the wall-clock minute: start early in one
        time.sleep(61 - time.time() % 60)
    with TestClient(app) as client:
        # WHEN each key sends three requests in the same minute
        plain_answers = [embed(client, plain) for _ in range(3)]
        roomy_answers = [embed(client, roomy) for _ in range(3)]
        free_answers = [embed(client, free) for _ in range(3)]
    # THEN the key without limits gets the defaults' headers and a 429 on the third
    assert [r.status_code for r in plain_answers] == [200, 200, 429]
    limited = plain_answers[2]
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.json()["error"]["type"] == "requests"
    assert "Limit 2, Used 2" in limited.json()["error"]["message"]
    assert limited.headers["x-ratelimit-limit-requests"] == "2"
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert limited.headers["x-ratelimit-limit-tokens"] == "10000"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # the key with its own higher rpm keeps it, and still takes the default tpm
    assert [r.status_code for r in roomy_answers] == [200, 200, 200]
    assert roomy_answers[2].headers["x-ratelimit-limit-requests"] == "100"
    assert roomy_answers[2].headers["x-ratelimit-remaining-requests"] == "97"
    assert roomy_answers[2].headers["x-ratelimit-limit-tokens"] == "10000"
    # the key that opted out with 0 is not limited at all
    assert [r.status_code for r in free_answers] == [200, 200, 200]
    assert not any(h.startswith("x-ratelimit") for h in free_answers[2].headers)


@pytest.mark.functional
def test_tokens_limit_is_checked_before_the_model_runs(
    make_app: MakeApp, moto_tables: Tables, keys: KeyStore
) -> None:
    secret, _ = keys.create("app", Limits(tpm=20))
    app, _ = make_app(moto_tables)
    with TestClient(app) as client:
        too_big = embed(client, secret, text="word " * 40)
        assert too_big.status_code == 429 and too_big.json()["error"]["type"] == "tokens"
        assert embed(client, secret, text="tiny").status_code == 200


@pytest.mark.functional
def test_spent_monthly_budget_is_insufficient_quota(
    make_app: MakeApp, moto_tables: Tables, keys: KeyStore
) -> None:
    secret, _ = keys.create("app", Limits(monthly_tokens=8))
    app, _ = make_app(moto_tables)
    with TestClient(app) as client:
        assert embed(client, secret, text="hi").status_code == 200  # 3 tokens
        assert embed(client, secret, text="hi").status_code == 200
        spent = embed(client, secret, text="hi")
    assert spent.status_code == 429
    assert spent.json()["error"]["code"] == "insufficient_quota"
    assert spent.headers["x-should-retry"] == "false"
    assert int(spent.headers["retry-after"]) > 0


@pytest.mark.functional
def test_usage_endpoint_returns_the_keys_own_daily_buckets(
    make_app: MakeApp, moto_tables: Tables, keys: KeyStore
) -> None:
    secret, key = keys.create("mine")
    other, _ = keys.create("theirs")
    app, _ = make_app(moto_tables)
    with TestClient(app) as client:
        told = [
            embed(client, secret, text=["a b", "c"]).json()["usage"]["total_tokens"]
            for _ in range(3)
        ]
        embed(client, other)
        today = datetime.now(UTC).date().isoformat()
        auth = {"Authorization": f"Bearer {secret}"}
        body = client.get(f"/v1/usage?start_date={today}&end_date={today}", headers=auth).json()
        assert body == {
            "object": "list",
            "key_id": key.key_id,
            "start_date": today,
            "end_date": today,
            "data": [
                {
                    "object": "usage.day",
                    "date": today,
                    "requests": 3,
                    "inputs": 6,
                    "prompt_tokens": sum(told),
                    "total_tokens": sum(told),
                }
            ],
            "total": {
                "requests": 3,
                "inputs": 6,
                "prompt_tokens": sum(told),
                "total_tokens": sum(told),
            },
        }
        default = client.get("/v1/usage", headers=auth).json()
        assert len(default["data"]) == 30 and default["end_date"] == today
        bad = client.get("/v1/usage?start_date=yesterday", headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "start_date"
        backwards = client.get("/v1/usage?start_date=2026-02-02&end_date=2026-02-01", headers=auth)
        assert backwards.status_code == 400
        assert client.get("/v1/usage").status_code == 401


@pytest.mark.functional
def test_auth_off_serves_anyone_and_records_usage_as_anonymous(
    make_app: MakeApp, moto_tables: Tables
) -> None:
    app, _ = make_app(moto_tables, auth_enabled=False)
    with TestClient(app) as client:
        tokens = embed(client, None).json()["usage"]["total_tokens"]
        body = client.get("/v1/usage").json()
    assert body["key_id"] == "anonymous" and body["total"]["total_tokens"] == tokens


@pytest.mark.functional
def test_dynamodb_failure_still_serves_and_queues_the_record(
    make_app: MakeApp, moto_tables: Tables, keys: KeyStore, queue: SqsUsageQueue
) -> None:
    secret, key = keys.create("app")
    app, service = make_app(moto_tables, queue)
    faults = Faults(moto_tables.client, "TransactWriteItems")
    with TestClient(app) as client:
        faults.plan("timeout", "timeout", "timeout")
        served = embed(client, secret, text=["one", "two"])
        assert served.status_code == 200 and len(served.json()["data"]) == 2
    assert service.reader.daily(key.key_id, *[datetime.now(UTC).date()] * 2)[0].requests == 0
    report = replay(queue, service.recorder.writer, wait_seconds=0)
    assert report.written == 1
    day = service.reader.daily(key.key_id, *[datetime.now(UTC).date()] * 2)[0]
    assert (day.requests, day.inputs) == (1, 2)
    assert day.total_tokens == served.json()["usage"]["total_tokens"]


@pytest.mark.functional
def test_logs_of_a_full_request_cycle_hold_no_key_hash_or_input(
    make_app: MakeApp,
    moto_tables: Tables,
    keys: KeyStore,
    queue: SqsUsageQueue,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every logger at DEBUG (botocore included) through auth, quota, embed, a failed usage
    write with its fallback, replay, a 401 and a 429."""
    secret, _ = keys.create("app", Limits(rpm=2))
    text = "the quick zebra-71 sentence"
    app, service = make_app(moto_tables, queue)
    faults = Faults(moto_tables.client, "TransactWriteItems")
    caplog.set_level(logging.DEBUG)
    with TestClient(app) as client:
        assert embed(client, secret, text=text).status_code == 200
        faults.plan("timeout", "timeout", "timeout")
        assert embed(client, secret, text=text, user="u-1").status_code == 200
        assert embed(client, secret, text=text).status_code == 429
        assert embed(client, secret[:-1] + "x", text=text).status_code == 401
    replay(queue, service.recorder.writer, wait_seconds=0)
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "usage_fallback" in logged  # the logs were captured, fallback line included
    hashed = hashlib.sha256(secret.encode()).hexdigest()
    for needle in (secret, secret[3:], hashed, text, "zebra-71"):
        assert needle not in logged
    encoded = base64.b64encode(text.encode()).decode()
    assert encoded[:16] not in logged
