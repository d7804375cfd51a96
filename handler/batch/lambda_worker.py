"""The SQS-triggered worker function: `handler` handles a batch of queue records and reports
the ones that failed (ReportBatchItemFailures), so only those come back.

Built once at import (cold start): settings, the embedder and the usage recorder, exactly as
the API function builds them.
"""

from __future__ import annotations

import logging
from typing import Any

from handler.batch.service import BatchService
from handler.batch.worker import decode
from handler.embedder import load_embedder
from handler.settings import Settings
from handler.usage.service import UsageService

log = logging.getLogger(__name__)

settings = Settings.from_env()
usage = UsageService.from_settings(settings)
embedder = load_embedder(
    settings.model_dir, threads=settings.onnx_threads, batch_size=settings.batch_size
)
worker = BatchService.from_settings(settings).worker(embedder, usage)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        try:
            worker.handle(decode(record["body"]))
        except Exception:
            log.exception("batch message %s failed", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
