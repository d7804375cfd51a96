"""Integration: the batch worker function as built, in the Lambda runtime, without Docker.

GIVEN the x86_64 `sam build` of BatchWorkerFunction with its two layers under the Runtime
Interface Emulator (as tests/deploy/test_deploy_runtime_emulator.py runs the API function),
moto's server as S3 and SQS, and DynamoDB Local holding the usage and batch tables; a batch of
12 lines (one not JSON) uploaded and created in process, its plan message on the queue,
WHEN the queue's real messages are invoked as SQS events one at a time (BatchSize 1, as the
template's event source): the plan, then each shard message the plan queued, then one shard
message again (a redelivery), then a body that is not a message; then the schedule's
{"kind": "expiry_sweep"} event,
THEN the batch is completed; its output file holds the 11 good lines in input order, each what
the in-process code writes for that line (vectors within 1e-5); its error file holds the bad
line; usage has one record per good line; every real message answers no batchItemFailures and
only the bad body is reported; the runtime logged one EMF line per shard (the redelivery none)
whose counts add up to the batch's; and the sweep answers its (empty) report.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from handler.batch import table
from handler.batch.lines import process_line, request_id
from handler.batch.metering import part_usage_id
from handler.batch.service import BatchService
from handler.embedder import load_embedder
from handler.settings import Settings
from handler.usage import store
from tests.deploy.deploy_support import (
    FunctionStore,
    RuntimeEmulator,
    built_dir,
    host_arch,
    lay_out_opt,
)
from tools.moto_server import MotoServer

pytestmark = pytest.mark.integration

OWNER = "key_batch_rie"
MODEL = "all-MiniLM-L6-v2"
SHARD_LINES = 5


def input_rows() -> list[bytes]:
    rows = [
        orjson.dumps(
            {
                "custom_id": f"doc-{i}",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": MODEL, "input": f"document {i} about the Lambda runtime"},
            }
        )
        for i in range(12)
    ]
    rows[6] = b"{this line is not JSON"
    return rows


def sqs_event(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS event source record for a message received from the queue, as Lambda sends it."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        ]
    }


@dataclass
class Run:
    service: BatchService
    batch_id: str
    rows: list[bytes]
    answers: dict[str, list[dict[str, Any]]]  # what the runtime answered, by step
    log: str


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def run(
    built: Path,
    function_store: FunctionStore,
    moto: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    arch = host_arch()
    tmp = tmp_path_factory.mktemp("rie-batch")
    sqs, ddb = moto.client("sqs"), function_store.client
    bucket = queue = batch_table = f"batch-rie-{tmp.name[-6:].replace('_', '-')}"
    moto.client("s3").create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    table.create_table(ddb, batch_table)
    settings = Settings(
        batch_bucket=bucket,
        batch_table=batch_table,
        batch_queue_url=queue_url,
        batch_shard_lines=SHARD_LINES,
    )
    service = BatchService.from_settings(settings, s3=moto.client("s3"), dynamodb=ddb, sqs=sqs)
    rows = input_rows()
    stored = service.files.upload(OWNER, io.BytesIO(b"\n".join(rows) + b"\n"), "in.jsonl", "batch")
    batch_id = str(service.batches.create(OWNER, stored.id, "/v1/embeddings", "24h", None)["id"])
    service.send({"kind": "plan", "batch_id": batch_id})

    def take() -> list[dict[str, Any]]:
        taken: list[dict[str, Any]] = []
        while got := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600
        ).get("Messages", []):
            taken += got
        return taken

    env = {
        **function_store.env,
        "AWS_ENDPOINT_URL_S3": moto.endpoint_url,
        "AWS_ENDPOINT_URL_SQS": moto.endpoint_url,
        "BATCH_BUCKET": bucket,
        "BATCH_TABLE": batch_table,
        "BATCH_QUEUE_URL": queue_url,
        "BATCH_SHARD_LINES": str(SHARD_LINES),
        # The worker's own timeout (template.yaml: 300 s): a run with under a minute left
        # checkpoints and requeues the rest, which the emulator's default 30 s would always do.
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "300",
    }
    emulator = RuntimeEmulator(
        task_root=built_dir(arch) / "BatchWorkerFunction",
        opt=lay_out_opt(tmp, arch),
        env=env,
        handler="handler.batch.lambda_worker.handler",
        arch=arch,
        log_path=tmp / "rie.log",
    ).start()
    answers: dict[str, list[dict[str, Any]]] = {}
    try:
        plans = take()
        answers["plan"] = [emulator.invoke(sqs_event(m, queue_arn)) for m in plans]
        shards = take()
        answers["shards"] = [emulator.invoke(sqs_event(m, queue_arn)) for m in shards]
        answers["redelivery"] = [emulator.invoke(sqs_event(shards[0], queue_arn))]
        bad = {**shards[0], "MessageId": "not-a-message", "Body": "{not json"}
        answers["bad"] = [emulator.invoke(sqs_event(bad, queue_arn))]
        answers["sweep"] = [emulator.invoke({"kind": "expiry_sweep"})]
    finally:
        emulator.stop()
    return Run(service, batch_id, rows, answers, emulator.log())


def file_lines(service: BatchService, file_id: str) -> list[dict[str, Any]]:
    stored = service.files.get(OWNER, file_id)
    assert stored is not None
    return [orjson.loads(line) for line in b"".join(service.files.content(stored)).splitlines()]


def emf_lines(log: str) -> list[dict[str, Any]]:
    found = []
    for line in log.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            found.append(json.loads(line))
    return found


def test_every_real_message_succeeds_and_only_the_bad_one_is_reported(run: Run) -> None:
    assert len(run.answers["plan"]) == 1
    assert len(run.answers["shards"]) == 3  # 12 lines in shards of 5
    for step in ("plan", "shards", "redelivery"):
        assert all(a == {"batchItemFailures": []} for a in run.answers[step]), (
            step,
            run.log[-3000:],
        )
    assert run.answers["bad"] == [{"batchItemFailures": [{"itemIdentifier": "not-a-message"}]}]


def test_the_batch_completes_with_what_the_in_process_code_writes(
    run: Run, model_dir: Path
) -> None:
    batch = run.service.batches.get(run.batch_id)
    assert batch is not None and batch["status"] == "completed", batch
    assert (batch["total"], batch["completed"], batch["failed"]) == (12, 11, 1)
    output = file_lines(run.service, batch["output_file_id"])
    good = [(n, row) for n, row in enumerate(run.rows, start=1) if n != 7]
    assert [line["custom_id"] for line in output] == [orjson.loads(r)["custom_id"] for _, r in good]
    embedder = load_embedder(model_dir, threads=1)
    settings = Settings(model_dir=model_dir)
    for line, (line_no, raw) in zip(output, good, strict=True):
        local = orjson.loads(
            process_line(raw, line_no, run.batch_id, "/v1/embeddings", embedder, settings).line
        )
        assert line["id"] == local["id"] and line["response"]["status_code"] == 200
        emulated_body, local_body = line["response"]["body"], local["response"]["body"]
        assert emulated_body["usage"] == local_body["usage"]
        np.testing.assert_allclose(
            np.asarray(emulated_body["data"][0]["embedding"], dtype=np.float32),
            np.asarray(local_body["data"][0]["embedding"], dtype=np.float32),
            rtol=0,
            atol=1e-5,
        )
    [error] = file_lines(run.service, batch["error_file_id"])
    assert error["response"] is None and error["error"]["code"] == "invalid_json_line"


def test_usage_has_one_record_per_shard_counting_its_good_lines(
    run: Run, function_store: FunctionStore
) -> None:
    # GIVEN 12 lines in shards of 5 (line 7 bad) THEN the ledger has one record per shard part,
    # none per line, and their requests add up to the 11 good lines (issue 21)
    def item(request_id: str) -> dict[str, Any] | None:
        return function_store.client.get_item(
            TableName=function_store.usage_table, Key=store.request_key(request_id)
        ).get("Item")

    parts = [item(part_usage_id(run.batch_id, shard, 1)) for shard in (1, 2, 3)]
    assert all(part is not None for part in parts), parts
    assert [int(p["requests"]["N"]) for p in parts if p] == [5, 4, 2]
    assert all(item(request_id(run.batch_id, line_no)) is None for line_no in range(1, 13))


def test_one_emf_line_per_finished_shard(run: Run) -> None:
    shards = [doc for doc in emf_lines(run.log) if "BatchLinesCompleted" in doc]
    assert len(shards) == 3, run.log[-3000:]  # the redelivery finished nothing: no line
    assert sorted(doc["shard"] for doc in shards) == [1, 2, 3]
    assert sum(doc["BatchLinesCompleted"] for doc in shards) == 11
    assert sum(doc["BatchLinesFailed"] for doc in shards) == 1
    for doc in shards:
        assert (doc["route"], doc["batchId"]) == ("/v1/batches", run.batch_id)
        assert "model" not in doc  # one model per stack: not a dimension (issue 19)
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"].startswith("ServerlessEmbeddings")


def test_the_expiry_sweep_event_runs_in_the_runtime(run: Run) -> None:
    [report] = run.answers["sweep"]
    assert report == {
        "expired": [],
        "finalized": [],
        "shards": 0,
        "unfinished": False,
        "failed": [],
        "cancelled": [],
        "gave_up": [],
    }, run.log[-2000:]


def test_the_runtime_logged_no_error_but_the_bad_message(run: Run) -> None:
    errors = [line for line in run.log.splitlines() if "[ERROR]" in line]
    assert len(errors) <= 1 and all("not-a-message" in line for line in errors), errors
