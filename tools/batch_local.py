"""The Batch API's local parts for `make serve`: moto's server as S3 and SQS, the bucket, queue
and table, and worker processes polling the queue (as the SQS-triggered function does on AWS).

`start_batch(stack, workers)` sets BATCH_BUCKET, BATCH_TABLE, BATCH_QUEUE_URL and
AWS_ENDPOINT_URL_S3/_SQS for the app it precedes; `python -m tools.batch_local worker` is one
worker process (it reads the same variables).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import ExitStack

from tools.local_service import die_with_parent
from tools.moto_server import MotoServer

BUCKET, QUEUE, TABLE = "embeddings-batch-local", "embeddings-batch-local", "embeddings-batches"


def start_batch(stack: ExitStack, workers: int) -> str:
    """Start S3/SQS and `workers` worker processes; DynamoDB must already be reachable.
    Returns a description for the console."""
    from handler.batch import table
    from handler.batch.service import make_clients

    moto = stack.enter_context(MotoServer())
    os.environ["AWS_ENDPOINT_URL_S3"] = moto.endpoint_url
    os.environ["AWS_ENDPOINT_URL_SQS"] = moto.endpoint_url
    s3, dynamodb, sqs = make_clients()
    s3.create_bucket(Bucket=BUCKET)
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    if TABLE not in dynamodb.list_tables()["TableNames"]:
        table.create_table(dynamodb, TABLE)
    os.environ.update(BATCH_BUCKET=BUCKET, BATCH_TABLE=TABLE, BATCH_QUEUE_URL=queue_url)
    for _ in range(workers):
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.batch_local", "worker"], preexec_fn=die_with_parent
        )
        stack.callback(_stop, process)
    return f"batch: S3 and SQS on moto at {moto.endpoint_url}, {workers} worker process(es)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def worker() -> int:
    from handler.batch.service import BatchService, run_worker
    from handler.embedder import load_embedder
    from handler.settings import Settings
    from handler.usage.service import UsageService

    settings = Settings.from_env()
    embedder = load_embedder(
        settings.model_dir, threads=settings.onnx_threads, batch_size=settings.batch_size
    )
    service = BatchService.from_settings(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_worker(
        service.worker(embedder, UsageService.from_settings(settings)),
        service.sqs,
        settings.batch_queue_url,
        stop,
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["worker"]:
        sys.exit("usage: python -m tools.batch_local worker")
    sys.exit(worker())
