"""The deployed app and the Lambda `handler`, built once at import (the cold start).

Importing this module reads Settings.from_env(), builds the ServedModels registry (every
model's manifest checked, the default model loaded; a bad artifact fails the cold start with
the reason) and exposes `app` (for uvicorn) and `handler`
(for Lambda). Mangum runs no lifespan, so nothing loads per invocation. `create_app` (in
handler/factory.py, re-exported here) builds apps from explicit parts for tests and tools.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

# framework first, before any module imports fastapi (handler/framework.py says why)
from handler import IMPORT_STARTED, framework  # noqa: F401
from handler.deferred import DeferredRoutes
from handler.embeddings.models import ServedModels
from handler.factory import create_app
from handler.lambda_adapter import lambda_handler_for
from handler.routes import BATCH_PREFIXES
from handler.settings import Settings
from handler.snapstart import register as register_snapstart_hooks
from handler.usage.service import UsageService

if TYPE_CHECKING:
    from fastapi import APIRouter

    from handler.batch.service import BatchService

__all__ = ["app", "batch", "create_app", "handler", "models", "settings", "usage"]

settings = Settings.from_env()
usage = UsageService.from_settings(settings)  # builds its AWS clients while the model loads
models = ServedModels.from_settings(settings)
hooks = usage.hooks()
batch: BatchService | None = None  # built with the Batch API's routes, by their first request


def _batch_routers() -> list[APIRouter]:
    """The Batch API's routers and service: imported on the first /v1/files, /v1/batches or
    /v1/uploads request, not at cold start (handler/deferred.py says what that saves)."""
    global batch
    from handler.batch.service import BatchService
    from handler.routes import batches, files, uploads

    batch = BatchService.from_settings(settings)
    return [files.router(batch), batches.router(batch), uploads.router(batch)]


if settings.batch_bucket:  # the Batch API is served only where a bucket is configured
    hooks["deferred"] = [DeferredRoutes(BATCH_PREFIXES, _batch_routers)]
app = create_app(settings, models, **hooks)
handler = lambda_handler_for(app, settings.api_base_path)
app.state.metrics.init_ms = (time.perf_counter() - IMPORT_STARTED) * 1000  # on the 1st request
register_snapstart_hooks(models, usage, settings)  # no-op outside Lambda; see snapstart.py
