"""Mangum for both API Gateway payload formats, with the stage prefix of HTTP API v2 removed.

REST API (v1) events carry the resource path without the stage; a custom-domain base path is
removed by Mangum's api_gateway_base_path (Settings.api_base_path). HTTP API (v2) events put a
named stage in front of the path (`/prod/v1/embeddings`; `$default` adds nothing), which
Mangum leaves in place, so routes would 404 on any stage but `$default`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mangum import Mangum
from mangum.handlers import HTTPGateway
from mangum.types import ASGI, LambdaContext, LambdaEvent, Scope


class StagedHTTPGateway(HTTPGateway):
    @property
    def scope(self) -> Scope:
        scope = super().scope
        stage = self.event["requestContext"].get("stage") or "$default"
        prefix = f"/{stage}"
        path = scope["path"]
        if self.event.get("version") == "2.0" and stage != "$default":
            if path == prefix or path.startswith(prefix + "/"):
                scope["path"] = path[len(prefix) :] or "/"
        return scope


class LambdaAdapter(Mangum):
    """Mangum with its own event loop, set before each invocation: Mangum asks
    asyncio.get_event_loop(), which on Python 3.12+ warns (and later fails) when no loop is
    set, and would otherwise pick up whatever loop a previous caller left behind."""

    def _setup_event_loop(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __call__(self, event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
        asyncio.set_event_loop(self.loop)
        return super().__call__(event, context)

    def close(self) -> None:
        """Close the loop (tests and tools; a Lambda container keeps it for its lifetime)."""
        asyncio.set_event_loop(None)
        self.loop.close()


def lambda_handler_for(app: ASGI, api_base_path: str = "/") -> LambdaAdapter:
    """The Lambda entry point for `app`. Nothing runs in the ASGI lifespan: Mangum would run
    it on every invocation, so everything heavy loads at import instead."""
    return LambdaAdapter(
        app,
        lifespan="off",
        api_gateway_base_path=api_base_path,
        custom_handlers=[StagedHTTPGateway],
    )
