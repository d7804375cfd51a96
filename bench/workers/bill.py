"""Count what each workload makes AWS do, through the deployed code paths (the `bill` section).

The deployed handler (`handler.app`, AUTH_ENABLED=true, usage and quotas on the bench's
DynamoDB Local) answers HTTP API v2 events; the batch worker function
(`handler.batch.lambda_worker`) runs each queue message as its own invocation, with S3 and
SQS on moto's server. bench/meter.py is installed before either module builds a client, so
every AWS call they make is counted with its billed units; stdout (the EMF lines) and log
records at the template's WARN level are counted in bytes; each invocation is timed.

Prints raw counts per workload (bench/bill.py prices them): for each key (one without
limits, one with RPM/TPM and a monthly budget), warm requests of 1 short input, 32 inputs and
`--big-inputs` inputs (base64, gzip accepted, as the openai client asks), each after untimed
requests (the key cache and connections warm, as in a warm container); and one batch of
`--batch-lines` one-input lines per key, from upload to the client fetching its output.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.events import MODEL, SHORT_TEXT, LambdaContext, v2_embeddings_event
from bench.meter import CountingStream, LogBytes, Meter, summarise

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "model_artifacts" / "corpus" / "heldout.txt"
LIMITED = {"rpm": 10_000_000, "tpm": 10_000_000_000, "monthly_tokens": 10**13}
ENDED = ("completed", "failed", "expired", "cancelled")
WARMUP = 3  # untimed requests per small workload first (one before a large one)
WORKER_TIMEOUT_S = 300  # template.yaml's BatchWorkerFunction Timeout


class WorkerContext(LambdaContext):
    """The batch worker's context: its time left counts down from the template's timeout
    (the worker stops a part or an assembly step short of it and carries on in a message)."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + WORKER_TIMEOUT_S

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


class Counters:
    """The meter, stdout and the log handler, read together per step."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.stdout = CountingStream()
        self.logs = LogBytes()

    def clear(self) -> None:
        self.meter.take()
        self.stdout.take()
        self.logs.take()


def decoded_body(response: dict[str, Any]) -> bytes:
    """The body the client gets (base64 undone; still gzip when the response is)."""
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def response_json(response: dict[str, Any]) -> Any:
    raw = decoded_body(response)
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if headers.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    return json.loads(raw)


def v2_event(method: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The fixture's v2 event re-aimed at `method path`, carrying `body` base64-encoded."""
    event = v2_embeddings_event({}, headers)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    if not body:
        event["headers"].pop("content-type", None)
    return event


def invoke(
    fn: Any, event: dict[str, Any], counters: Counters, context: Any = None
) -> tuple[Any, float]:
    """One invocation with stdout counted; returns (response, wall ms)."""
    real, sys.stdout = sys.stdout, counters.stdout
    try:
        started = time.perf_counter()
        response = fn(event, context or LambdaContext())
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        sys.stdout = real
    return response, elapsed


def step(counters: Counters, totals: dict[str, Any], ms: float | None) -> None:
    """Add what the counters saw since the last step to `totals` (ms: one invocation)."""
    calls = counters.meter.take()
    totals.setdefault("calls", []).extend(calls)
    emf, emf_lines = counters.stdout.take()
    log_bytes, log_lines = counters.logs.take()
    totals["stdout_bytes"] = totals.get("stdout_bytes", 0) + emf
    totals["stdout_lines"] = totals.get("stdout_lines", 0) + emf_lines
    totals["log_bytes"] = totals.get("log_bytes", 0) + log_bytes
    totals["log_lines"] = totals.get("log_lines", 0) + log_lines
    if ms is not None:
        totals.setdefault("invocation_ms", []).append(round(ms, 3))


def finish(totals: dict[str, Any], units: int) -> dict[str, Any]:
    calls = totals.pop("calls", [])
    return {**totals, "units": units, **summarise(calls)}


def sync_workload(
    handler: Any, counters: Counters, secret: str, inputs: list[str] | str, requests: int
) -> dict[str, Any]:
    # As the openai client sends it: base64 vectors, gzip accepted (a 2,048-input float
    # body would be over Lambda's 6 MB response limit).
    headers = {"authorization": f"Bearer {secret}", "accept-encoding": "gzip, deflate"}
    body = {"input": inputs, "model": MODEL, "encoding_format": "base64"}

    def call() -> tuple[dict[str, Any], float, int]:
        event = v2_embeddings_event(body, headers)
        request_bytes = len(base64.b64decode(event["body"]))
        response, ms = invoke(handler, event, counters)
        if response.get("statusCode") != 200:
            raise SystemExit(f"answered {response.get('statusCode')}: {response.get('body')}")
        return response, ms, request_bytes

    for _ in range(WARMUP if isinstance(inputs, str) or len(inputs) <= 32 else 1):
        call()  # untimed: the key cache, connections and DynamoDB Local's JVM warm up
    counters.clear()
    totals: dict[str, Any] = {"request_bytes": [], "response_bytes": [], "tokens": 0}
    for _ in range(requests):
        response, ms, request_bytes = call()
        step(counters, totals, ms)
        totals["request_bytes"].append(request_bytes)
        totals["response_bytes"].append(len(decoded_body(response)))
        totals["tokens"] += int(response_json(response)["usage"]["prompt_tokens"])
    totals["inputs_per_request"] = 1 if isinstance(inputs, str) else len(inputs)
    return finish(totals, requests)


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


def api_call(
    handler: Any, counters: Counters, totals: dict[str, Any], event: dict[str, Any]
) -> dict[str, Any]:
    response, ms = invoke(handler, event, counters)
    if response.get("statusCode") != 200:
        raise SystemExit(f"answered {response.get('statusCode')}: {response.get('body')}")
    step(counters, totals, ms)
    totals["api_requests"] = totals.get("api_requests", 0) + 1
    totals.setdefault("request_bytes", []).append(len(base64.b64decode(event["body"])))
    totals.setdefault("response_bytes", []).append(len(decoded_body(response)))
    return dict(response_json(response))


def batch_workload(
    deployed: Any, worker_fn: Any, counters: Counters, secret: str, texts: list[str],
    timeout_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Upload, create, run every queue message as one worker invocation, then the client's
    one status read and output download; totals over the batch. Its tokens are the lines'
    prompt tokens, as the ledger counts them (the output may be a redirect, not a body)."""
    data, lines = batch_rows(texts), len(texts)
    tokens = int(sum(worker_fn.embedder.tokenize(texts).token_counts))
    headers = {"authorization": f"Bearer {secret}"}
    api: dict[str, Any] = {}
    work: dict[str, Any] = {"worker_invocations": 0, "empty_polls": 0}
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
            work["empty_polls"] += 1
            continue
        step(counters, work, None)  # the event source's receive
        message = received[0]
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
        "worker": finish(work, work["worker_invocations"]),
    }


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--big-requests", type=int, default=2)
    parser.add_argument("--big-inputs", type=int, default=2048)
    parser.add_argument("--batch-lines", type=int, default=500)
    parser.add_argument("--shard-lines", type=int, default=0, help="0: the template's")
    parser.add_argument("--batch-timeout", type=float, default=300, help="seconds per batch")
    args = parser.parse_args()

    import logging

    import botocore.session

    from handler.usage.keys import KeyStore, Limits
    from tools.dynamodb_local import LOCAL_ENV
    from tools.moto_server import MotoServer

    texts = [t for t in CORPUS.read_text().splitlines() if t.strip()]
    os.environ.update({"AUTH_ENABLED": "true", "ORT_THREADS": os.environ.get("ORT_THREADS", "1")})
    os.environ.pop("METRICS_LOG", None)  # the EMF line goes to stdout, as on Lambda: counted
    ddb = botocore.session.get_session().create_client(
        "dynamodb", region_name=LOCAL_ENV["AWS_DEFAULT_REGION"],
        endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
        aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    keys = KeyStore(ddb, os.environ["KEYS_TABLE"])
    secrets = {
        "no_limits": keys.create("bill-no-limits", Limits())[0],
        "limits": keys.create("bill-limits", Limits(**LIMITED))[0],
    }
    with MotoServer() as moto:
        os.environ["AWS_ENDPOINT_URL_S3"] = os.environ["AWS_ENDPOINT_URL_SQS"] = moto.endpoint_url
        setup_batch_env(moto, ddb, args.shard_lines)
        meter = Meter()
        meter.install()  # before the deployed modules build a client
        counters = Counters(meter)
        logging.getLogger().addHandler(counters.logs)

        import handler.app as deployed
        import handler.batch.lambda_worker as worker_fn

        batch_texts = [texts[i % len(texts)] for i in range(args.batch_lines)]
        workloads: dict[str, dict[str, Any]] = {}
        for key, secret in secrets.items():
            runs: dict[str, tuple[list[str] | str, int]] = {
                "short": (SHORT_TEXT, args.requests),
                "inputs_32": ([texts[i % len(texts)] for i in range(32)], args.requests),
                "big": ([texts[i % len(texts)] for i in range(args.big_inputs)],
                        args.big_requests),
            }  # fmt: skip
            for name, (inputs, requests) in runs.items():
                workloads[f"{name}:{key}"] = sync_workload(
                    deployed.handler, counters, secret, inputs, requests
                )
            workloads[f"batch:{key}"] = batch_workload(
                deployed, worker_fn, counters, secret, batch_texts,
                args.batch_timeout,
            )  # fmt: skip
        settings = deployed.settings
    print(
        json.dumps(
            {
                "workloads": workloads,
                "big_inputs": args.big_inputs,
                "batch_shard_lines": settings.batch_shard_lines,
                "ort_threads": settings.onnx_threads,
                "auth_enabled": settings.auth_enabled,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
