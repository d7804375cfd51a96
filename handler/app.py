"""The deployed app and the Lambda `handler`, built once at import (the cold start).

Importing this module reads Settings.from_env(), builds the ServedModels registry (every
model's manifest checked, the default model loaded; a bad artifact fails the cold start with
the reason) and exposes `app` (for uvicorn) and `handler`
(for Lambda). Mangum runs no lifespan, so nothing loads per invocation. `create_app` (in
handler/factory.py, re-exported here) builds apps from explicit parts for tests and tools.
"""

from __future__ import annotations

import time

from handler import IMPORT_STARTED
from handler.embeddings.models import ServedModels
from handler.factory import create_app
from handler.lambda_adapter import lambda_handler_for
from handler.settings import Settings
from handler.snapstart import register as register_snapstart_hooks
from handler.usage.service import UsageService

__all__ = ["app", "create_app", "handler", "models", "settings", "usage"]

settings = Settings.from_env()
usage = UsageService.from_settings(settings)  # builds its AWS clients while the model loads
models = ServedModels.from_settings(settings)
hooks = usage.hooks()
if settings.batch_bucket:  # the Batch API is served only where a bucket is configured
    # Imported only here: boto3 (S3's managed uploads) costs a cold start that needs no batches.
    from handler.batch.service import BatchService
    from handler.routes import batches, files, uploads

    batch = BatchService.from_settings(settings)
    hooks["routers"] = [files.router(batch), batches.router(batch), uploads.router(batch)]
app = create_app(settings, models, **hooks)
handler = lambda_handler_for(app, settings.api_base_path)
app.state.metrics.init_ms = (time.perf_counter() - IMPORT_STARTED) * 1000  # on the 1st request
register_snapstart_hooks(models, usage, settings)  # no-op outside Lambda; see snapstart.py
