"""`create_app`: the FastAPI app wired from explicit parts, with no import-time side effects.

Tests and tools build apps here with their own Settings; handler/app.py builds the deployed
one from the environment.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from handler.embedder import Embedder
from handler.embeddings.models import ServedModels
from handler.hooks import (
    Authenticator,
    Limiter,
    Meter,
    NoMeter,
    NullRecorder,
    UsageRecorder,
    UsageReport,
    no_auth,
    no_limits,
)
from handler.http_errors import install_exception_handlers
from handler.logs import install as install_request_id_logging
from handler.metrics import EmfSink, Metrics, MetricsSink
from handler.middleware import RequestContextMiddleware
from handler.openapi import install_openapi
from handler.routes import embeddings, health, usage
from handler.routes import models as models_route
from handler.routes.common import Services
from handler.settings import Settings
from handler.version import VERSION


def create_app(
    settings: Settings,
    models: ServedModels | Embedder,
    authenticator: Authenticator | None = None,
    recorder: UsageRecorder | None = None,
    limiter: Limiter | None = None,
    usage_report: UsageReport | None = None,
    routers: Sequence[APIRouter] = (),
    meter: Meter | None = None,
) -> FastAPI:
    """An app serving `models` (one Embedder: that model, answering to the settings'
    MODEL_ALIASES too); without an authenticator every caller is anonymous, without
    a recorder usage goes nowhere, without a usage report GET /v1/usage is not served."""
    app = FastAPI(
        title="serverless-embeddings",
        version=VERSION,
        docs_url=None,  # no HTML docs pages: the document is for tools (schemathesis, SDKs)
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_openapi(app)
    if isinstance(models, Embedder):
        models = ServedModels.single(models, settings.model_aliases)
    app.state.services = Services(
        settings=settings,
        models=models,
        authenticator=authenticator or no_auth,
        recorder=recorder or NullRecorder(),
        limiter=limiter or no_limits,
        usage_report=usage_report,
        meter=meter or NoMeter(),
    )
    install_exception_handlers(app)
    install_request_id_logging()
    app.state.metrics = Metrics(emf_sinks(settings))  # handler/server.py may add Prometheus
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=app.state.metrics,
        model=models.default.id,
    )
    optional = [usage.router] if usage_report is not None else []
    for router in (embeddings.router, models_route.router, health.router, *optional, *routers):
        app.include_router(router)
    return app


def emf_sinks(settings: Settings) -> list[MetricsSink]:
    """The EMF sink the settings ask for: stdout (Lambda), a file (METRICS_LOG), or none."""
    if not settings.metrics_enabled:
        return []
    if not settings.metrics_log:
        return [EmfSink(settings.metrics_namespace)]
    stream = open(settings.metrics_log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    return [EmfSink(settings.metrics_namespace, stream)]
