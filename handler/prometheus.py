"""GET /metrics in Prometheus text format, for the app under uvicorn only (handler/server.py).

The same per-request figures as the EMF lines (handler/metrics.py), kept as counters and
histograms in this process. prometheus_client is a dev/serve requirement, never in the
function's layer: only handler/server.py imports this module, and only when
PROMETHEUS_METRICS is on.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from handler.metrics import USAGE_OUTCOMES, RequestMetrics

LABELS = ("model", "route")
# Seconds; from a warm single input (~1 ms) to a 2,048-input request (~2 s) and a timeout.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PrometheusSink:
    """A metrics sink (handler/metrics.MetricsSink) feeding its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "embeddings_requests", "Requests answered", [*LABELS, "status_class"], registry=r
        )
        self.inputs = Counter("embeddings_inputs", "Inputs embedded", LABELS, registry=r)
        self.tokens = Counter("embeddings_tokens", "Tokens embedded", LABELS, registry=r)
        self.latency = Histogram(
            "embeddings_request_seconds", "Request latency", LABELS,
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.model_latency = Histogram(
            "embeddings_model_seconds", "Model run time", LABELS,
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.cold_starts = Counter("embeddings_cold_starts", "Cold starts", registry=r)
        self.init_seconds = Gauge(
            "embeddings_init_seconds", "This process's init duration", registry=r
        )
        self.usage = Counter(
            "embeddings_usage_records", "Usage record outcomes", ["outcome"], registry=r
        )
        for outcome in USAGE_OUTCOMES:  # all four exported from the start, at 0
            self.usage.labels(outcome)

    def emit(self, metrics: RequestMetrics) -> None:
        labels = (metrics.model, metrics.route)
        status_class = f"{metrics.status // 100}xx"
        self.requests.labels(*labels, status_class).inc()
        self.latency.labels(*labels).observe(metrics.latency_ms / 1000)
        if metrics.model_ms is not None:
            self.inputs.labels(*labels).inc(metrics.inputs)
            self.tokens.labels(*labels).inc(metrics.tokens)
            self.model_latency.labels(*labels).observe(metrics.model_ms / 1000)
        if metrics.cold:
            self.cold_starts.inc()
            if metrics.init_ms is not None:
                self.init_seconds.set(metrics.init_ms / 1000)
        if metrics.usage_outcome in USAGE_OUTCOMES:
            self.usage.labels(metrics.usage_outcome).inc()


def install(app: FastAPI) -> PrometheusSink:
    """Add the sink to the app's metrics and serve it at GET /metrics."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series per counter
    sink = PrometheusSink()
    app.state.metrics.sinks.append(sink)
    router = APIRouter()

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(sink.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    return sink
