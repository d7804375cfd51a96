"""The Batch API's local parts for `make serve`: moto's server as S3 and SQS, the bucket, queue
and table, and worker processes polling the queue (as the SQS-triggered function does on AWS).

`start_batch(stack, workers)` sets BATCH_BUCKET, BATCH_TABLE, BATCH_QUEUE_URL and
AWS_ENDPOINT_URL_S3/_SQS for the app it precedes; `python -m tools.batch_local worker` is one
worker process (it reads the same variables). The first one also runs the expiry sweep every
SWEEP_SECONDS (`--sweep`), as the schedule does on AWS (handler/batch/expiry.py).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from contextlib import ExitStack
from typing import TYPE_CHECKING

from tools.local_service import die_with_parent
from tools.moto_server import MotoServer

if TYPE_CHECKING:
    from handler.batch.worker import Worker

log = logging.getLogger(__name__)
SWEEP_SECONDS = 60.0  # a local batch past its window ends expired within a minute of the grace
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
    for index in range(workers):
        sweeps = ["--sweep"] if index == 0 else []  # one sweeper is enough (it is idempotent)
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.batch_local", "worker", *sweeps],
            preexec_fn=die_with_parent,
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


def sweep_loop(worker: Worker, stop: threading.Event, every: float = SWEEP_SECONDS) -> None:
    """Run the expiry sweep every `every` seconds until `stop` is set."""
    from handler.batch.expiry import sweep

    while not stop.wait(every):
        try:
            sweep(worker)
        except Exception:  # DynamoDB Local gone for a moment: the next sweep retries
            log.exception("expiry sweep failed")


def worker(sweeps: bool = False) -> int:
    from handler.batch.admission import admission_for
    from handler.batch.service import BatchService, run_worker
    from handler.embeddings.models import ServedModels
    from handler.settings import Settings
    from handler.usage.service import UsageService

    settings = Settings.from_env()
    models = ServedModels.from_settings(settings)  # every model `make serve` serves
    service = BatchService.from_settings(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    usage = UsageService.from_settings(settings)
    built = service.worker(models, usage, admission_for(usage))
    if sweeps:
        threading.Thread(target=sweep_loop, args=(built, stop), daemon=True).start()
    run_worker(built, service.sqs, settings.batch_queue_url, stop)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] not in (["worker"], ["worker", "--sweep"]):
        sys.exit("usage: python -m tools.batch_local worker [--sweep]")
    sys.exit(worker(sweeps="--sweep" in sys.argv))
