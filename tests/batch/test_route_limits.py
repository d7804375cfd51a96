"""Every client-callable route counts, and what a key keeps and runs is capped (issue 17,
item 6): the Files, Uploads and Batches routes count against the key's RPM, and a key's
stored bytes, open uploads and batches in flight have limits (Settings.batch_max_*)."""

from __future__ import annotations

import dataclasses
import io
import time

import httpx
import openai
import pytest

from handler.settings import Settings
from handler.usage.keys import KeyStore, Limits
from tests.batch.batch_support import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, batch_max_in_flight=2, batch_max_open_uploads=1, batch_max_stored_bytes=10_000
    )


def test_batch_routes_count_against_the_rpm(stack: Stack) -> None:
    secret, _ = KeyStore(stack.service.batches.dynamodb, stack.settings.keys_table).create(
        "slow", Limits(rpm=2)
    )
    headers = {"Authorization": f"Bearer {secret}"}
    if time.time() % 60 > 50:  # the window is the wall-clock minute: start early in one
        time.sleep(61 - time.time() % 60)
    answers = [
        httpx.get(f"{stack.base_url}/files", headers=headers),
        httpx.get(f"{stack.base_url}/batches", headers=headers),
        httpx.post(f"{stack.base_url}/batches", headers=headers, json={}),
        httpx.post(f"{stack.base_url}/uploads", headers=headers, json={}),
    ]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    for refused in answers[2:]:
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "requests"


def test_batches_in_flight_are_capped(stack: Stack) -> None:
    client = stack.client()
    file_id = client.files.create(file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id

    def create() -> object:
        return client.batches.create(
            input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
        )

    create()
    create()
    with pytest.raises(openai.RateLimitError) as refused:
        create()  # the same file named again: bounded by the cap
    assert refused.value.code == "batch_limit_exceeded"
    # another key has its own cap
    other = stack.client("bob")
    theirs = other.files.create(file=("b.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id
    other.batches.create(input_file_id=theirs, endpoint="/v1/embeddings", completion_window="24h")


def test_stored_bytes_and_open_uploads_are_capped(stack: Stack) -> None:
    client = stack.client()
    client.files.create(file=("a.jsonl", io.BytesIO(b"x" * 6_000)), purpose="batch")
    with pytest.raises(openai.BadRequestError) as full:
        client.files.create(file=("b.jsonl", io.BytesIO(b"x" * 6_000)), purpose="batch")
    assert full.value.code == "storage_limit_exceeded"
    with pytest.raises(openai.BadRequestError) as reserved:
        client.uploads.create(
            bytes=5_000, filename="c.jsonl", purpose="batch", mime_type="application/jsonl"
        )
    assert reserved.value.code == "storage_limit_exceeded"
    client.uploads.create(
        bytes=1_000, filename="d.jsonl", purpose="batch", mime_type="application/jsonl"
    )
    with pytest.raises(openai.RateLimitError) as busy:
        client.uploads.create(
            bytes=10, filename="e.jsonl", purpose="batch", mime_type="application/jsonl"
        )
    assert busy.value.code == "upload_limit_exceeded"
