"""The embedding service alone: the deployed app's parts without the usage hooks.

Used where a section measures issue 3's targets (warm latency) and as the load test's second
arm: `handler.app` adds DynamoDB round trips per request, which the usage-overhead section
measures on their own.
Mirrors handler/app.py line for line, minus `UsageService`.
"""

from __future__ import annotations

from typing import Any


def service_alone() -> tuple[Any, Any, Any]:
    """(settings, embedder, Mangum handler) built from the environment, as handler.app does."""
    from handler.embedder import load_embedder
    from handler.factory import create_app
    from handler.lambda_adapter import lambda_handler_for
    from handler.settings import Settings

    settings = Settings.from_env()
    embedder = load_embedder(
        settings.model_dir, threads=settings.onnx_threads, batch_size=settings.batch_size
    )
    app = create_app(settings, embedder)
    return settings, embedder, lambda_handler_for(app, settings.api_base_path)


def service_app() -> Any:
    """The ASGI app of the service alone, for `uvicorn --factory bench.service:service_app`."""
    from handler.factory import create_app

    settings, embedder, _ = service_alone()
    return create_app(settings, embedder)
