"""Every request counts (issue 17, items 5 and 15): the key is checked and its request counted
against the RPM before the body is read or tokenized, a request refused after tokenizing
(an input over the model's limit) still counts its tokens against the TPM, and a key past
its TPM gets a 429 before any tokenizing. Counters live in DynamoDB Local."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from handler.embedder import MAX_POOLED_TOKENS, Embedder
from handler.usage.keys import KeyStore, Limits
from handler.usage.service import UsageService
from tests.usage.usage_support import Tables

MODEL = "all-MiniLM-L6-v2"
MakeApp = Callable[..., tuple[FastAPI, UsageService]]


def minute_counter(tables: Tables) -> tuple[int, int]:
    items = tables.client.scan(TableName=tables.usage, ConsistentRead=True)["Items"]
    found = [i for i in items if i["sk"]["S"].startswith("MON#")]  # the minute is in it
    assert len(found) == 1
    item = found[0]
    return int(item.get("minute_requests", {"N": "0"})["N"]), int(item["minute_tokens"]["N"])


class Tokenizations:
    def __init__(self, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        tokenize = embedder.tokenize

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return tokenize(*args, **kwargs)

        monkeypatch.setattr(embedder, "tokenize", counted)


def post(client: TestClient, secret: str, text: str) -> Any:
    return client.post(
        "/v1/embeddings",
        json={"model": MODEL, "input": text},
        headers={"Authorization": f"Bearer {secret}"},
    )


@pytest.mark.integration
def test_an_overlong_input_counts_its_request_and_tokens_and_then_tokenizing_stops(
    make_app: MakeApp, local_tables: Tables, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a key whose TPM is the longest input accepted (LONG_INPUTS=pool: OpenAI's 8,192)
    limit = MAX_POOLED_TOKENS
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create(
        "app", Limits(rpm=3, tpm=limit)
    )
    app, _ = make_app(local_tables)
    tokenizations = Tokenizations(embedder, monkeypatch)
    if time.time() % 60 > 50:  # the window is the wall-clock minute: start early in one
        time.sleep(61 - time.time() % 60)
    with TestClient(app) as client:
        # WHEN it sends an input over that limit
        refused = post(client, secret, "hello " * (limit + 10))
        # THEN it is refused, and its request and its tokens count
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "context_length_exceeded"
        requests, tokens = minute_counter(local_tables)
        assert requests == 1 and tokens > limit
        # AND its next request is refused before anything is tokenized
        assert tokenizations.calls == 1
        next_one = post(client, secret, "hello")
        assert next_one.status_code == 429
        assert next_one.json()["error"]["type"] == "tokens"
        assert tokenizations.calls == 1
        assert minute_counter(local_tables)[0] == 2
        # AND its RPM is spent by these refused requests as by any others
        post(client, secret, "hello")
        over = post(client, secret, "hello")
        assert over.status_code == 429 and over.json()["error"]["type"] == "requests"
    assert tokenizations.calls == 1


def asgi_post(app: FastAPI, path: str, authorization: str | None) -> tuple[int, bool]:
    """POST `path` straight through ASGI; (status, whether the app read the body)."""
    read = False

    async def receive() -> dict[str, Any]:
        nonlocal read
        read = True
        return {"type": "http.request", "body": b'{"model": "m", "input": "x"}', "more_body": False}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    headers = [(b"content-type", b"application/json"), (b"content-length", b"28")]
    if authorization is not None:
        headers.append((b"authorization", authorization.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return status, read


@pytest.mark.integration
@pytest.mark.parametrize("authorization", [None, "Bearer sk-not-a-key"])
def test_the_key_is_checked_before_the_body_is_read(
    make_app: MakeApp, local_tables: Tables, authorization: str | None
) -> None:
    app, _ = make_app(local_tables)
    assert asgi_post(app, "/v1/embeddings", authorization) == (401, False)
