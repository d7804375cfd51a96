"""Fixtures for the batch tests: a fresh bucket, queue and tables per test on the run's moto
server and DynamoDB Local (tests/conftest.py), the app on uvicorn with real keys, and workers
driven by the tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from handler.batch import table
from handler.batch.service import BatchService
from handler.deferred import DeferredRoutes
from handler.embedder import Embedder
from handler.factory import create_app
from handler.routes import BATCH_PREFIXES, batches, files, uploads
from handler.settings import Settings
from handler.usage import store
from handler.usage.keys import KeyStore, Limits
from handler.usage.service import UsageService
from tests.batch.batch_support import Stack
from tests.live import serve_in_thread
from tools.dynamodb_local import LOCAL_ENV, DynamoDBLocal
from tools.moto_server import MotoServer


@pytest.fixture
def aws_env(
    monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer, dynamodb_local: DynamoDBLocal
) -> None:
    for name, value in LOCAL_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint_url)


@pytest.fixture
def settings(
    aws_env: None, model_dir: Path, moto_server: MotoServer, dynamodb_local: DynamoDBLocal
) -> Settings:
    """Fresh bucket, queue and tables for each test."""
    suffix = uuid.uuid4().hex[:10]
    settings = Settings(
        model_dir=model_dir,
        onnx_threads=2,
        keys_table=f"keys-{suffix}",
        usage_table=f"usage-{suffix}",
        batch_bucket=f"batch-{suffix}",
        batch_table=f"batches-{suffix}",
        batch_queue_url=moto_server.client("sqs").create_queue(QueueName=f"batch-{suffix}")[
            "QueueUrl"
        ],
        batch_shard_lines=100,
    )
    moto_server.client("s3").create_bucket(Bucket=settings.batch_bucket)
    ddb = dynamodb_local.client("dynamodb")
    store.create_tables(ddb, settings.keys_table, settings.usage_table)
    table.create_table(ddb, settings.batch_table)
    return settings


@pytest.fixture
def stack(settings: Settings, embedder: Embedder, dynamodb_local: DynamoDBLocal) -> Iterator[Stack]:
    usage = UsageService.from_settings(settings)
    service = BatchService.from_settings(settings)
    hooks = usage.hooks()
    # As handler/app.py serves them: built by the first Batch API request.
    hooks["deferred"] = [
        DeferredRoutes(
            BATCH_PREFIXES,
            lambda: [files.router(service), batches.router(service), uploads.router(service)],
        )
    ]
    app = create_app(settings, embedder, **hooks)
    keys = KeyStore(dynamodb_local.client("dynamodb"), settings.keys_table)
    limits = Limits(rpm=100_000, tpm=100_000_000)
    secrets = {name: keys.create(name, limits)[0] for name in ("alice", "bob")}
    with serve_in_thread(app) as base:
        built = Stack(f"{base}/v1", settings, service, embedder, usage, secrets)
        yield built
        built.stop_workers()
