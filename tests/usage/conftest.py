"""Fixtures for the usage tests: moto tables (unit), DynamoDB Local tables (integration),
a moto SQS fallback queue (there is no SQS emulator offline), and the app wired with them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from moto import mock_aws

from handler.embedder import Embedder
from handler.factory import create_app
from handler.settings import Settings
from handler.usage import store
from handler.usage.fallback import SqsUsageQueue
from handler.usage.service import UsageService
from tests.live import serve_in_thread
from tests.usage.usage_support import Tables
from tools.dynamodb_local import LOCAL_ENV, DynamoDBLocal

# DynamoDB Local runs on loopback: moto must let those calls through to it.
MOTO_CONFIG: Any = {"core": {"passthrough": {"urls": [r"http://127\.0\.0\.1:\d+.*"]}}}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LOCAL_ENV.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


def _names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return f"keys-{suffix}", f"usage-{suffix}"


@pytest.fixture
def local_tables(dynamodb_local: DynamoDBLocal) -> Tables:
    client = dynamodb_local.client("dynamodb")
    keys, usage = _names()
    store.create_tables(client, keys, usage)
    return Tables(client, keys, usage)


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture
def moto_tables(moto: None) -> Tables:
    client = store.make_client("dynamodb", store.client_config(1, 1, 3))
    keys, usage = _names()
    store.create_tables(client, keys, usage)
    return Tables(client, keys, usage)


@pytest.fixture
def queue(moto: None) -> SqsUsageQueue:
    client = store.make_client("sqs", store.client_config(1, 1, 3))
    url = client.create_queue(QueueName="usage-fallback-" + uuid.uuid4().hex[:8])["QueueUrl"]
    return SqsUsageQueue(client, url)


@pytest.fixture
def make_app(model_dir: Path, embedder: Embedder) -> Callable[..., tuple[FastAPI, UsageService]]:
    """The app with the usage module wired to the given tables/queue, as handler/app.py does."""

    def build(
        tables: Tables, queue: SqsUsageQueue | None = None, **overrides: Any
    ) -> tuple[FastAPI, UsageService]:
        settings = Settings(
            model_dir=model_dir,
            onnx_threads=2,
            keys_table=tables.keys,
            usage_table=tables.usage,
            usage_queue_url=queue.queue_url if queue else "",
            key_cache_seconds=0,
            **overrides,
        )
        service = UsageService.from_settings(
            settings, dynamodb=tables.client, sqs=queue.client if queue else None
        )
        return create_app(settings, embedder, **service.hooks()), service

    return build


@pytest.fixture
def served(
    make_app: Callable[..., tuple[FastAPI, UsageService]],
    local_tables: Tables,
    queue: SqsUsageQueue,
) -> Iterator[tuple[str, UsageService]]:
    """(base URL ending in /v1, the wired usage service) of a live server on loopback."""
    app, service = make_app(local_tables, queue)
    # Keep-alive past the longest test: uvicorn's 5 s default closes an idle pooled
    # connection while a busy client may be about to reuse it (a ReadError, not an answer).
    with serve_in_thread(app, timeout_keep_alive=300) as base:
        yield f"{base}/v1", service
