"""The FastAPI app and the Lambda `handler`, built once at import (the cold start).

`create_app(settings, embedder, authenticator=..., recorder=...)` builds an app from parts,
for tests and tools; importing this module builds the deployed one from the environment:
Settings.from_env(), the embedder from MODEL_DIR, `app`, and `handler` for Lambda.
"""

from __future__ import annotations

from fastapi import FastAPI

from handler.embedder import Embedder, load_embedder
from handler.errors import install_exception_handlers
from handler.hooks import Authenticator, NullRecorder, UsageRecorder, no_auth
from handler.lambda_adapter import lambda_handler_for
from handler.middleware import RequestContextMiddleware
from handler.routes import embeddings, health, models
from handler.routes.common import Services
from handler.settings import Settings


def create_app(
    settings: Settings,
    embedder: Embedder,
    authenticator: Authenticator | None = None,
    recorder: UsageRecorder | None = None,
) -> FastAPI:
    """An app serving `embedder`; without an authenticator every caller is anonymous, without
    a recorder usage goes nowhere."""
    app = FastAPI(
        title="serverless-embeddings",
        docs_url=None,  # the contract is OpenAI's API reference, not a generated schema
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = Services(
        settings=settings,
        embedder=embedder,
        authenticator=authenticator or no_auth,
        recorder=recorder or NullRecorder(),
    )
    install_exception_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    for router in (embeddings.router, models.router, health.router):
        app.include_router(router)
    return app


settings = Settings.from_env()
embedder = load_embedder(
    settings.model_dir, threads=settings.onnx_threads, batch_size=settings.batch_size
)
app = create_app(settings, embedder)
handler = lambda_handler_for(app, settings.api_base_path)
