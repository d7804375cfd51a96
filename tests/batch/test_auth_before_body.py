"""POST routes check the key before reading the body (issue 17, item 15): a request without a
valid key gets its 401 without the app reading a byte of its (up to 6 MB) body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from handler.factory import create_app
from handler.routes import batches, files, uploads
from tests.batch.batch_support import Stack

pytestmark = pytest.mark.integration


def asgi_post(app: Any, path: str, authorization: str | None) -> tuple[int, bool]:
    """POST `path` straight through ASGI; (status, whether the app read the body)."""
    read = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read = True
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
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
    asyncio.run(app(scope, receive, send))
    return status, read


@pytest.mark.parametrize("authorization", [None, "Bearer sk-not-a-key"])
@pytest.mark.parametrize(
    "path",
    [
        "/v1/embeddings",
        "/v1/files",
        "/v1/batches",
        "/v1/uploads",
        "/v1/uploads/upload_0123456789abcdef01234567/parts",
        "/v1/uploads/upload_0123456789abcdef01234567/complete",
    ],
)
def test_no_body_is_read_for_a_request_without_a_valid_key(
    stack: Stack, path: str, authorization: str | None
) -> None:
    routers = [files.router(stack.service), batches.router(stack.service)]
    routers.append(uploads.router(stack.service))
    app = create_app(
        stack.settings,
        stack.embedder,
        **stack.recorder.hooks(),  # type: ignore[attr-defined]
        routers=routers,
    )
    assert asgi_post(app, path, authorization) == (401, False)
