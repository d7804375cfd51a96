"""File content over BATCH_REDIRECT_BYTES: a 307 to a presigned S3 GET (a Lambda response holds
at most 6 MB), followed by the real openai client to moto's S3 on another port, that is another
origin, so httpx drops the Authorization header on the way."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import httpx
import openai
import pytest

from tests.batch.batch_support import Stack

pytestmark = pytest.mark.integration


def recording_client(stack: Stack, seen: list[httpx.Request], name: str = "alice") -> Any:
    # openai's DefaultHttpxClient keeps the SDK's defaults (follow_redirects=True among them)
    http = openai.DefaultHttpxClient(event_hooks={"request": [seen.append]})
    return openai.OpenAI(
        api_key=stack.secrets[name], base_url=stack.base_url, max_retries=0, http_client=http
    )


def test_content_over_the_threshold_comes_from_s3(stack: Stack) -> None:
    # GIVEN a file over the 5,000,000-byte default threshold (one request body still)
    data = bytes(range(256)) * (5_200_000 // 256)
    assert stack.settings.batch_redirect_bytes < len(data) < stack.settings.max_body_bytes
    seen: list[httpx.Request] = []
    with recording_client(stack, seen) as client:
        created = client.files.create(file=("big.jsonl", io.BytesIO(data)), purpose="batch")
        seen.clear()

        content = client.files.content(created.id)

    assert content.content == data
    first, second = seen
    api, s3 = httpx.URL(stack.base_url), httpx.URL(stack.service.files.s3.meta.endpoint_url)
    assert (first.url.host, first.url.port) == (api.host, api.port)
    assert first.headers["authorization"] == f"Bearer {stack.secrets['alice']}"
    # the redirect went to S3's own origin, presigned, and without our API key
    assert (second.url.host, second.url.port) == (s3.host, s3.port) and s3.port != api.port
    assert "authorization" not in second.headers
    assert second.url.params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert int(second.url.params["X-Amz-Expires"]) == stack.settings.batch_presign_seconds
    redirect = content.response.history[0]
    assert redirect.status_code == 307 and redirect.headers["cache-control"] == "no-store"


def test_small_files_and_redirects_off_stream_from_the_api(stack: Stack) -> None:
    seen: list[httpx.Request] = []
    with recording_client(stack, seen) as client:
        small = client.files.create(file=("s.jsonl", io.BytesIO(b"{}\n" * 1000)), purpose="batch")
        big = client.files.create(file=("b.jsonl", io.BytesIO(b"x" * 5_100_000)), purpose="batch")
        seen.clear()
        assert client.files.content(small.id).content == b"{}\n" * 1000
        assert len(seen) == 1  # no redirect

        stack.service.settings = dataclasses.replace(stack.settings, batch_redirect_bytes=0)
        seen.clear()
        assert client.files.content(big.id).content == b"x" * 5_100_000
        assert len(seen) == 1


def test_the_redirect_is_for_the_owner_only_and_short_lived(stack: Stack) -> None:
    stack.service.settings = dataclasses.replace(
        stack.settings, batch_redirect_bytes=10, batch_presign_seconds=1
    )
    client = stack.client()
    created = client.files.create(file=("a.jsonl", io.BytesIO(b"y" * 100)), purpose="batch")
    headers = {"Authorization": f"Bearer {stack.secrets['bob']}"}
    theirs = httpx.get(f"{stack.base_url}/files/{created.id}/content", headers=headers)
    assert theirs.status_code == 404 and "location" not in theirs.headers
    headers = {"Authorization": f"Bearer {stack.secrets['alice']}"}
    mine = httpx.get(f"{stack.base_url}/files/{created.id}/content", headers=headers)
    assert mine.status_code == 307
    assert httpx.get(mine.headers["location"]).content == b"y" * 100
    # signed for BATCH_PRESIGN_SECONDS (moto's server does not enforce expiry: S3 does)
    assert httpx.URL(mine.headers["location"]).params["X-Amz-Expires"] == "1"
