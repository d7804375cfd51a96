"""The batch worker function. Two events:

- SQS records (the batch queue's event source): each is a plan or shard message, handled by
  the Worker; the ones that raised are reported back (ReportBatchItemFailures) so only those
  come back after the visibility timeout;
- {"kind": "expiry_sweep"} (template.yaml's schedule): batches past their window end
  `expired` (handler/batch/expiry.py), within the invocation's remaining time.

Built once at import (cold start): settings, the models (handler/embeddings/models.py) and the
usage recorder, exactly as the API function builds them. Each shard the worker finishes
writes one EMF line (handler/metrics.ShardMetrics): the dashboard's lines completed/failed
per minute.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from handler.batch.admission import admission_for
from handler.batch.expiry import sweep
from handler.batch.service import BatchService
from handler.batch.worker import decode
from handler.embeddings.models import ServedModels
from handler.metrics import EmfSink, ShardMetrics
from handler.settings import Settings
from handler.usage.service import UsageService

log = logging.getLogger(__name__)
SWEEP = "expiry_sweep"

settings = Settings.from_env()
usage = UsageService.from_settings(settings)
models = ServedModels.from_settings(settings)  # every model; a line's `model` picks one
sink = EmfSink(settings.metrics_namespace) if settings.metrics_enabled else None


def report_shard(batch_id: str, shard: int, completed: int, failed: int, ms: float) -> None:
    if sink is None:
        return
    try:
        sink.emit(ShardMetrics(batch_id, shard, models.default.id, completed, failed, ms))
    except Exception:  # metrics never fail a shard (as handler/metrics.py's policy)
        log.exception("batch shard metrics failed")


worker = dataclasses.replace(
    BatchService.from_settings(settings).worker(models, usage, admission_for(usage)),
    on_shard=report_shard,
)


def time_left(context: Any) -> float:
    """Seconds left in this invocation (no context, as in tests: no limit)."""
    if context is None:
        return float("inf")
    return float(context.get_remaining_time_in_millis()) / 1000


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("kind") == SWEEP:
        report = sweep(worker, lambda: time_left(context))
        log.info("expiry sweep: %s", report)
        return dataclasses.asdict(report)
    failures = []
    for record in event.get("Records", []):
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
        try:
            worker.handle(decode(record["body"]), receives, lambda: time_left(context))
        except Exception:
            log.exception("batch message %s failed", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
