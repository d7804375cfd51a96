"""The bill worker's batch workload: one batch from upload to the client's output download,
each queue message one invocation of the batch worker function (for bench/workers/bill.py).

The worker's invocations are also counted by phase (bench/bill_scale.py scales them): "batch"
(the plan, and a finalization that stopped short) once per batch, "shard" once per shard."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from bench.events import MODEL, LambdaContext
from bench.invocations import Counters, api_call, decoded_body, finish, invoke, step, v2_event

ENDED = ("completed", "failed", "expired", "cancelled")
PHASES = {"plan": "batch", "finalize": "batch", "shard": "shard"}  # message kind -> phase
WORKER_TIMEOUT_S = 300  # template.yaml's BatchWorkerFunction Timeout


class WorkerContext(LambdaContext):
    """The batch worker's context: its time left counts down from the template's timeout
    (the worker stops a part or an assembly step short of it and carries on in a message)."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + WORKER_TIMEOUT_S

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def multipart(data: bytes, filename: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: application/jsonl\r\n\r\n",
    ]
    body = parts[0].encode() + parts[1].encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def batch_rows(texts: list[str]) -> bytes:
    lines = [
        {"custom_id": f"doc-{i}", "method": "POST", "url": "/v1/embeddings",
         "body": {"model": MODEL, "input": text}}
        for i, text in enumerate(texts)
    ]  # fmt: skip
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def batch_workload(
    deployed: Any, worker_fn: Any, counters: Counters, secret: str, texts: list[str],
    timeout_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Upload, create, run every queue message as one worker invocation, then the client's
    one status read and output download; totals over the batch. Its tokens are the lines'
    prompt tokens, as the ledger counts them (the output may be a redirect, not a body)."""
    data, lines = batch_rows(texts), len(texts)
    tokens = int(
        sum(worker_fn.models.embedder(worker_fn.models.default.id).tokenize(texts).token_counts)
    )
    headers = {"authorization": f"Bearer {secret}"}
    api: dict[str, Any] = {}
    phases: dict[str, dict[str, Any]] = {p: {"worker_invocations": 0} for p in ("batch", "shard")}
    empty_polls = 0
    counters.clear()
    body, content_type = multipart(data, "bill.jsonl")
    upload_headers = {**headers, "content-type": content_type}
    upload = api_call(
        deployed.handler, counters, api, v2_event("POST", "/v1/files", body, upload_headers)
    )
    create = json.dumps({"input_file_id": upload["id"], "endpoint": "/v1/embeddings",
                         "completion_window": "24h"}).encode()  # fmt: skip
    batch = api_call(deployed.handler, counters, api, v2_event("POST", "/v1/batches", create,
                     {**headers, "content-type": "application/json"}))  # fmt: skip
    sqs, queue_url = deployed.batch.sqs, deployed.settings.batch_queue_url
    deadline = time.monotonic() + timeout_s
    while True:
        counters.clear()  # the bench's own status reads are not the batch's
        status = (deployed.batch.batches.get(batch["id"]) or {}).get("status")
        counters.clear()
        if status in ENDED:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"batch still {status} after {timeout_s} s")
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])  # fmt: skip
        if not received:  # Lambda's poller idles at a fixed cost, not per line
            counters.clear()
            empty_polls += 1
            continue
        message = received[0]
        work = phases[PHASES[json.loads(message["Body"])["kind"]]]
        step(counters, work, None)  # the event source's receive
        record = {
            "messageId": message["MessageId"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": message["Attributes"]["ApproximateReceiveCount"]
            },
        }
        result, ms = invoke(worker_fn.handler, {"Records": [record]}, counters, WorkerContext())
        step(counters, work, ms)
        work["worker_invocations"] += 1
        if not result.get("batchItemFailures"):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            step(counters, work, None)  # the event source's delete
    work = merged(phases.values())
    counters.clear()
    done = api_call(deployed.handler, counters, api,
                    v2_event("GET", f"/v1/batches/{batch['id']}", b"", headers))  # fmt: skip
    if done.get("status") != "completed" or not done.get("output_file_id"):
        raise SystemExit(f"batch ended {done.get('status')}: {done.get('errors')}")
    content = v2_event("GET", f"/v1/files/{done['output_file_id']}/content", b"", headers)
    response, ms = invoke(deployed.handler, content, counters)
    if response.get("statusCode") not in (200, 302, 307):
        raise SystemExit(f"output download answered {response.get('statusCode')}")
    step(counters, api, ms)
    api["api_requests"] += 1
    api["request_bytes"].append(0)
    api["response_bytes"].append(len(decoded_body(response)))
    if response.get("statusCode") != 200:  # a presigned URL: the client GETs it from S3
        api["presigned_s3_get"] = 1
    return {
        "lines": lines,
        "tokens": tokens,
        "request_counts": done.get("request_counts"),
        "api": finish(api, api["api_requests"]),
        "worker": {**finish(work, work["worker_invocations"]), "empty_polls": empty_polls},
        "worker_phases": {p: finish(t, t["worker_invocations"]) for p, t in phases.items()},
    }


def merged(parts: Any) -> dict[str, Any]:
    """Step totals added up: numbers summed, lists (calls, invocation times) joined."""
    total: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            if isinstance(value, list):
                total[name] = [*total.get(name, []), *value]
            else:
                total[name] = total.get(name, 0) + value
    return total


def setup_batch_env(moto: Any, ddb_client: Any, shard_lines: int) -> None:
    from handler.batch import table

    suffix = uuid.uuid4().hex[:8]
    bucket, batch_table = f"bill-{suffix}", f"bill-batches-{suffix}"
    moto.client("s3").create_bucket(Bucket=bucket)
    queue_url = moto.client("sqs").create_queue(QueueName=f"bill-{suffix}")["QueueUrl"]
    table.create_table(ddb_client, batch_table)
    os.environ.update(
        {"BATCH_BUCKET": bucket, "BATCH_TABLE": batch_table, "BATCH_QUEUE_URL": queue_url}
    )
    if shard_lines:
        os.environ["BATCH_SHARD_LINES"] = str(shard_lines)
