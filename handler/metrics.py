"""Per-request metrics: one CloudWatch Embedded Metric Format (EMF) line per request.

The middleware fills a RequestMetrics for every HTTP request (routes add what only they know:
inputs, tokens, model time, the usage outcome) and hands it to the app's Metrics when the
response is sent. The EMF sink writes it as one JSON line to stdout (or a file), from which
CloudWatch Logs extracts the metrics: no API call, nothing on the network.

The line is billed as log ingestion on every request, so it carries only what has
information (issue 19: at most 350 bytes for a short query from a key):
- one dimension, the route template (never the raw path); a request for a model other than
  the deployment's default adds a second set, route and model, so each extra model has its
  own figures while the default model's lines stay as short as before (its figures: the
  route's minus the others');
- no units (CloudWatch stores None; UNITS below says what each value measures);
- a metric only when it says something: Status4xx/Status5xx on those answers alone,
  ColdStart and InitDuration on a container's first request, a Usage outcome only when the
  record was not simply written. Requests are Latency's SampleCount, successes that minus
  the error classes, and records written ModelLatency's SampleCount minus the other outcomes;
- as properties for Logs Insights, never dimensions: `keyId` when a key called, `statusCode`
  when it is not 200. The client's x-request-id is on the usage record and on every log line
  the app writes, so it is not repeated here.
Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

Failure policy: a sink that raises is logged and skipped; metrics never fail a request.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import IO, Protocol

import orjson

log = logging.getLogger("handler.metrics")

DIMENSIONS = ("route",)
MODEL_DIMENSIONS = ("route", "model")  # added for a model other than the default
UNMATCHED_ROUTE = "unmatched"  # 404s: the raw path is the client's, never a dimension
USAGE_OUTCOMES = ("written", "duplicate", "queued", "logged")  # handler/usage/recorder.py
# "written" is the rule, so only the others are metrics (written = ModelLatency's SampleCount
# minus these).
REPORTED_OUTCOMES = USAGE_OUTCOMES[1:]
# The batch worker's metrics carry this route: its lines are /v1/batches work.
BATCH_ROUTE = "/v1/batches"

# Every metric the function can emit, with what it measures (the line leaves units out to
# save bytes; CloudWatch then stores "None"). The dashboard and the alarms in template.yaml
# may name only these (tests/ops checks it).
UNITS: dict[str, str] = {
    "Status4xx": "Count",  # 1 on a 4xx answer; absent otherwise
    "Status5xx": "Count",
    "Latency": "Milliseconds",  # every request: arrival to last byte; SampleCount = requests
    "ColdStart": "Count",  # 1 on a container's first request; absent otherwise
    "InitDuration": "Milliseconds",  # on the first request only: importing handler.app
    "Inputs": "Count",  # the rest: embeddings requests that ran the model
    "Tokens": "Count",
    "ModelLatency": "Milliseconds",
    **{f"Usage{outcome.capitalize()}": "Count" for outcome in REPORTED_OUTCOMES},
    # The batch worker's: one EMF line per shard it finishes (ShardMetrics).
    "BatchLinesCompleted": "Count",
    "BatchLinesFailed": "Count",
    "BatchShardLatency": "Milliseconds",
}


@dataclass
class RequestMetrics:
    """What one request measured; None/0 where it did not get that far."""

    request_id: str  # x-request-id: API Gateway's id when there is one
    model: str  # the served model id: the default until an embeddings request resolves one
    cold: bool
    route: str = UNMATCHED_ROUTE
    status: int = 500
    latency_ms: float = 0.0
    init_ms: float | None = None
    inputs: int = 0
    tokens: int = 0
    model_ms: float | None = None
    key_id: str | None = None
    usage_outcome: str | None = None
    default_model: str = ""  # the deployment's default model ("": the model is the default)

    @property
    def dimension_sets(self) -> list[list[str]]:
        if self.default_model and self.model != self.default_model:
            return [list(DIMENSIONS), list(MODEL_DIMENSIONS)]
        return [list(DIMENSIONS)]

    def dimension_values(self) -> dict[str, str]:
        found = {"route": self.route}
        if len(self.dimension_sets) > 1:
            found["model"] = self.model
        return found

    def values(self) -> dict[str, float]:
        """Metric name -> value for this request (names from UNITS), only those with news."""
        found: dict[str, float] = {"Latency": round(self.latency_ms, 1)}
        if self.status // 100 in (4, 5):
            found[f"Status{self.status // 100}xx"] = 1
        if self.cold:
            found["ColdStart"] = 1
            if self.init_ms is not None:
                found["InitDuration"] = round(self.init_ms, 1)
        if self.model_ms is not None:
            found.update(
                Inputs=self.inputs, Tokens=self.tokens, ModelLatency=round(self.model_ms, 1)
            )
        if self.usage_outcome in REPORTED_OUTCOMES:
            found[f"Usage{self.usage_outcome.capitalize()}"] = 1
        return found

    def properties(self) -> dict[str, object]:
        """Searchable in Logs Insights, never dimensions (no metric per key)."""
        found: dict[str, object] = {}
        if self.key_id is not None:
            found["keyId"] = self.key_id
        if self.status != 200:
            found["statusCode"] = self.status
        return found


@dataclass
class ShardMetrics:
    """What the batch worker measured for one shard it finished (counted once: only the run
    whose completion transaction applied reports it, never a redelivery)."""

    batch_id: str
    shard: int
    model: str
    completed: int
    failed: int
    latency_ms: float
    route: str = BATCH_ROUTE

    def values(self) -> dict[str, float]:
        return {
            "BatchLinesCompleted": self.completed,
            "BatchLinesFailed": self.failed,
            "BatchShardLatency": round(self.latency_ms, 3),
        }

    def properties(self) -> dict[str, object]:
        return {"batchId": self.batch_id, "shard": self.shard}

    @property
    def dimension_sets(self) -> list[list[str]]:
        return [list(DIMENSIONS)]

    def dimension_values(self) -> dict[str, str]:
        return {"route": self.route}


def emf_document(
    metrics: RequestMetrics | ShardMetrics, namespace: str, timestamp_ms: int
) -> dict[str, object]:
    """The EMF document for one request or shard: the dimension and metric values as
    top-level members, properties after them."""
    values = metrics.values()
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": metrics.dimension_sets,
                    "Metrics": [{"Name": name} for name in values],
                }
            ],
        },
        **metrics.dimension_values(),
        **values,
        **metrics.properties(),
    }


class MetricsSink(Protocol):
    def emit(self, metrics: RequestMetrics) -> None: ...


class EmfSink:
    """One EMF line per request to `stream` (stdout on Lambda: Lambda passes print-style
    output through as is, so the line stays a bare JSON object CloudWatch can parse)."""

    def __init__(self, namespace: str, stream: IO[str] | None = None) -> None:
        self.namespace = namespace
        self.stream = stream

    def emit(self, metrics: RequestMetrics | ShardMetrics) -> None:
        document = emf_document(metrics, self.namespace, int(time.time() * 1000))
        stream = self.stream or sys.stdout  # looked up late: tests and tools swap stdout
        stream.write(orjson.dumps(document).decode() + "\n")
        stream.flush()


class Metrics:
    """The app's sinks, and this container's init duration for its first request."""

    def __init__(self, sinks: list[MetricsSink] | None = None) -> None:
        self.sinks: list[MetricsSink] = list(sinks or ())
        self.init_ms: float | None = None

    def emit(self, metrics: RequestMetrics) -> None:
        for sink in self.sinks:
            try:
                sink.emit(metrics)
            except Exception:
                log.exception("metrics sink %s failed", type(sink).__name__)
