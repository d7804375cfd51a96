"""Functional: a hook that blocks (a DynamoDB round trip) leaves the event loop free for other
requests when the app is served over ASGI (uvicorn); the blocked request still completes and
is recorded once.

GIVEN a hook that waits until another request has been answered
WHEN an embeddings request reaches that hook and /health is asked meanwhile
THEN /health is answered while the hook waits, and the embeddings request then succeeds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from handler_support import ALIAS, ListRecorder

from handler.embedder import Embedder
from handler.factory import create_app
from handler.hooks import Caller
from handler.settings import Settings

pytestmark = pytest.mark.functional
WAIT_S = 5.0


@pytest.mark.parametrize("hook", ["authenticator", "limiter"])
def test_blocking_hook_leaves_event_loop_free(
    hook: str, base_settings: Settings, embedder: Embedder
) -> None:
    entered, released = threading.Event(), threading.Event()
    waited: list[bool] = []

    def round_trip(*_: Any) -> Caller | None:
        entered.set()
        waited.append(released.wait(WAIT_S))  # False if nothing else could run meanwhile
        return Caller() if hook == "authenticator" else None  # anonymous; nothing charged

    recorder = ListRecorder()
    app = create_app(base_settings, embedder, recorder=recorder, **{hook: round_trip})

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            embedding = asyncio.create_task(
                client.post("/v1/embeddings", json={"model": ALIAS, "input": "hello"})
            )
            deadline = time.monotonic() + WAIT_S
            while not entered.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            health = await client.get("/health")
            released.set()
            return health, await embedding

    health, embedding = asyncio.run(scenario())
    assert waited == [True]
    assert health.status_code == 200
    assert embedding.status_code == 200
    assert len(embedding.json()["data"]) == 1
    assert len(recorder.records) == 1
