"""The two ways a worker runs outside the tests' threads: the SQS-triggered Lambda handler
(handler/batch/lambda_worker.py) fed SQS events, and `make serve`'s worker processes."""

from __future__ import annotations

import importlib
import io
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest

from handler.batch.service import BatchService
from handler.settings import Settings
from handler.usage import store
from tests.batch.batch_support import corpus_free_rows, jsonl
from tools.dynamodb_local import DynamoDBLocal

pytestmark = pytest.mark.integration


def submit(service: BatchService, rows: list[dict[str, Any]]) -> str:
    stored = service.files.upload("anonymous", io.BytesIO(jsonl(rows)), "in.jsonl", "batch")
    batch = service.batches.create("anonymous", stored.id, "/v1/embeddings", "24h", None)
    service.send({"kind": "plan", "batch_id": batch["id"]})
    return str(batch["id"])


def output_ids(service: BatchService, batch: dict[str, Any]) -> list[str]:
    stored = service.files.get("anonymous", batch["output_file_id"])
    assert stored is not None
    return [
        orjson.loads(line)["custom_id"]
        for line in b"".join(service.files.content(stored)).splitlines()
    ]


def test_lambda_handler_works_sqs_events_and_reports_failures(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    for name, value in {
        "MODEL_DIR": str(model_dir),
        "ORT_THREADS": "2",
        "KEYS_TABLE": settings.keys_table,
        "USAGE_TABLE": settings.usage_table,
        "BATCH_BUCKET": settings.batch_bucket,
        "BATCH_TABLE": settings.batch_table,
        "BATCH_QUEUE_URL": settings.batch_queue_url,
        "BATCH_SHARD_LINES": "10",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "handler.batch.lambda_worker", raising=False)
    module = importlib.import_module("handler.batch.lambda_worker")
    service = BatchService.from_settings(settings)
    rows = corpus_free_rows(25)
    batch_id = submit(service, rows)

    while True:
        got = service.sqs.receive_message(
            QueueUrl=settings.batch_queue_url, MaxNumberOfMessages=10
        ).get("Messages", [])
        if not got:
            break
        records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in got]
        assert module.handler({"Records": records}, None) == {"batchItemFailures": []}
        for m in got:
            service.sqs.delete_message(
                QueueUrl=settings.batch_queue_url, ReceiptHandle=m["ReceiptHandle"]
            )
    batch = service.batches.get(batch_id)
    assert batch is not None and batch["status"] == "completed"
    assert (batch["shards_total"], batch["completed"]) == (3, 25)
    assert output_ids(service, batch) == [r["custom_id"] for r in rows]
    # a record the worker cannot handle is reported, so SQS redelivers only that one
    bad = {"Records": [{"messageId": "m-1", "body": "not json"}]}
    assert module.handler(bad, None) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    # a message on its fifth delivery (SQS's count) ends its batch instead of going round
    other = submit(service, corpus_free_rows(3))
    [plan] = service.sqs.receive_message(QueueUrl=settings.batch_queue_url)["Messages"]
    attributes = {"ApproximateReceiveCount": "5"}
    last = {"Records": [{"messageId": "m-2", "body": plan["Body"], "attributes": attributes}]}
    assert module.handler(last, None) == {"batchItemFailures": []}
    failed = service.batches.get(other)
    assert failed is not None and failed["status"] == "failed"


def test_serve_starts_worker_processes_that_consume_the_queue(
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    model_dir: Path,
    dynamodb_local: DynamoDBLocal,
) -> None:
    from tools.batch_local import start_batch

    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "BATCH_BUCKET", "BATCH_TABLE"):
        monkeypatch.setenv(name, "")  # so the values start_batch sets are undone afterwards
    monkeypatch.setenv("BATCH_QUEUE_URL", "")
    monkeypatch.setenv("MODEL_DIR", str(model_dir))
    monkeypatch.setenv("ORT_THREADS", "1")
    defaults = Settings()
    store.create_tables(
        dynamodb_local.client("dynamodb"), defaults.keys_table, defaults.usage_table
    )
    with ExitStack() as stack:
        start_batch(stack, workers=2)
        service = BatchService.from_settings(Settings.from_env())
        rows = corpus_free_rows(40)
        batch_id = submit(service, rows)
        deadline = time.monotonic() + 180
        while (batch := service.batches.get(batch_id)) and batch["status"] != "completed":
            assert time.monotonic() < deadline, f"still {batch['status']}"
            time.sleep(0.5)
        assert batch is not None
        assert output_ids(service, batch) == [r["custom_id"] for r in rows]
