"""`create_app`: the FastAPI app wired from explicit parts, with no import-time side effects.

Tests and tools build apps here with their own Settings; handler/app.py builds the deployed
one from the environment.
"""

from __future__ import annotations

from fastapi import FastAPI

from handler.embedder import Embedder
from handler.errors import install_exception_handlers
from handler.hooks import Authenticator, NullRecorder, UsageRecorder, no_auth
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

