"""The Batch API's parts wired from Settings: S3, DynamoDB and SQS clients, the stores, the
queue, and the worker; plus the local worker loop `make serve` and the tests run.

Clients are boto3's (S3's managed upload streams a file in parts) and are injectable; the
endpoints come from AWS_ENDPOINT_URL_S3/_SQS/_DYNAMODB as botocore reads them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from handler.batch.admission import LineAdmission
from handler.batch.batches import BatchStore
from handler.batch.files import FileStore
from handler.batch.leases import LEASE_SECONDS, SHARDS_PER_KEY, ShardLeases
from handler.batch.uploads import UploadStore
from handler.batch.worker import LineRecorder, Worker, decode
from handler.embedder import Embedder
from handler.embeddings.models import ServedModels
from handler.settings import Settings
from handler.usage.store import OnDemandClient

log = logging.getLogger(__name__)
# A shard of BATCH_SHARD_LINES lines must finish within this, or it is delivered again
# (harmless, but wasted work); template.yaml sets the queue's to the worker's timeout.
LOCAL_VISIBILITY_SECONDS = 300


def boto3_client(service: str) -> Any:
    """A boto3 client with standard-mode retries (S3's signs presigned URLs with SigV4:
    botocore presigns with SigV2 by default, which S3 refuses in newer regions and for KMS
    objects)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": 3})
    if service == "s3":
        config = config.merge(Config(signature_version="s3v4"))
    return boto3.session.Session().client(service, config=config)


def make_clients() -> tuple[Any, Any, Any]:
    """(s3, dynamodb, sqs) boto3 clients, each built on first use, not at cold start:
    boto3's imports and three client models cost the API function ~0.3 s of CPU that no
    embeddings request needs (on a 1-vCPU function a background thread would not hide it)."""
    s3, dynamodb, sqs = (
        OnDemandClient(partial(boto3_client, name)) for name in ("s3", "dynamodb", "sqs")
    )
    return s3, dynamodb, sqs


@dataclass
class BatchService:
    settings: Settings
    files: FileStore
    batches: BatchStore
    sqs: Any
    uploads: UploadStore

    @classmethod
    def from_settings(
        cls, settings: Settings, s3: Any = None, dynamodb: Any = None, sqs: Any = None
    ) -> BatchService:
        if s3 is None or dynamodb is None or sqs is None:
            s3, dynamodb, sqs = make_clients()
        files = FileStore(
            s3,
            dynamodb,
            settings.batch_bucket,
            settings.batch_table,
            retention_seconds=settings.batch_file_retention_days * 86400,
        )
        # A batch's and its shards' items live as long as its result files can.
        item_seconds = settings.batch_file_retention_days * 86400
        return cls(
            settings=settings,
            files=files,
            batches=BatchStore(dynamodb, settings.batch_table, item_seconds),
            sqs=sqs,
            uploads=UploadStore(
                files, settings.batch_upload_max_parts, settings.batch_upload_seconds
            ),
        )

    def send(self, message: dict[str, Any]) -> None:
        """Queue `message`; its "delay" (seconds, at most SQS's 900) holds it back."""
        body = {name: value for name, value in message.items() if name != "delay"}
        self.sqs.send_message(
            QueueUrl=self.settings.batch_queue_url,
            MessageBody=orjson.dumps(body).decode(),
            DelaySeconds=min(int(message.get("delay", 0)), 900),
        )

    def worker(
        self,
        models: ServedModels | Embedder,
        recorder: LineRecorder,
        admission: LineAdmission | None = None,
    ) -> Worker:
        """The worker of `models` (one Embedder: that model, under MODEL_ALIASES too);
        `admission` (UsageService.batch_admission()) holds batches to their
        key's status and monthly budget, none = every line runs."""
        leases = ShardLeases(
            self.batches.dynamodb, self.settings.batch_table, SHARDS_PER_KEY, LEASE_SECONDS
        )
        worker = Worker(
            self.settings,
            models
            if isinstance(models, ServedModels)
            else ServedModels.single(models, self.settings.model_aliases),
            self.files,
            self.batches,
            self.send,
            recorder,
            leases=leases,
        )
        if admission is not None:
            worker.admission = admission
        return worker


def poll_once(worker: Worker, sqs: Any, queue_url: str, wait_seconds: int = 1) -> int:
    """Receive up to one message, handle it, delete it when handled; returns messages handled.
    A message whose handling raises is left to come back after its visibility timeout."""
    received = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=1,
        WaitTimeSeconds=wait_seconds,
        VisibilityTimeout=LOCAL_VISIBILITY_SECONDS,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    ).get("Messages", [])
    for message in received:
        deadline = time.monotonic() + LOCAL_VISIBILITY_SECONDS
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
        try:
            worker.handle(decode(message["Body"]), receives, _until(deadline))
        except Exception:
            log.exception("batch message failed; it will be delivered again")
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return len(received)


def _until(deadline: float) -> Callable[[], float]:
    return lambda: deadline - time.monotonic()


def run_worker(worker: Worker, sqs: Any, queue_url: str, stop: threading.Event) -> None:
    """The local worker: poll the queue until `stop` is set (a Lambda SQS trigger does this
    on AWS; see handler/batch/lambda_worker.py)."""
    while not stop.is_set():
        try:
            poll_once(worker, sqs, queue_url)
        except Exception:  # the queue itself failed: keep polling, as Lambda's poller does
            log.exception("receiving batch messages failed")
            stop.wait(1.0)
