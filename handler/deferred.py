"""Routes imported and built by the first request that needs them, not at cold start.

The Batch API's routers bring ~20 modules (files, uploads, batches, shards, the worker's line
pipeline) that cost a cold start ~40-50 ms of CPU (`make bench`, cold_start section, with
BATCH_BUCKET set as template.yaml sets it), while most containers only ever answer
/v1/embeddings. `DeferredRoutes` stands in the app's route list for those routers: it claims
a request by path prefix only, and only then builds the real routes and hands the request to
the one that matches, so a 404, a 405 and the route template the metrics name are what the
real routes give. The OpenAPI document expands it first (`expanded`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

_MATCHED = "handler.deferred.route"  # the scope key carrying the real route to handle()


class DeferredRoutes(BaseRoute):
    def __init__(self, prefixes: Sequence[str], build: Callable[[], Iterable[Any]]) -> None:
        """`build` returns the routers (anything with `.routes`) once, on first need."""
        self.prefixes = tuple(prefixes)
        self._build = build
        self._routes: list[BaseRoute] | None = None
        self._lock = threading.Lock()

    @property
    def routes(self) -> list[BaseRoute]:
        if self._routes is None:
            with self._lock:
                if self._routes is None:
                    self._routes = [route for router in self._build() for route in router.routes]
        return self._routes

    @property
    def built(self) -> bool:
        return self._routes is not None

    def claims(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not self.claims(scope.get("path", "")):
            return Match.NONE, {}
        partial: tuple[Match, Scope] = (Match.NONE, {})
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, {**child, _MATCHED: route}
            if match is Match.PARTIAL and partial[0] is Match.NONE:
                partial = (match, {**child, _MATCHED: route})
        return partial

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope.pop(_MATCHED)
        scope["route"] = route
        await route.handle(scope, receive, send)


def expanded(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """`routes` with every DeferredRoutes replaced by its real routes (building them)."""
    out: list[BaseRoute] = []
    for route in routes:
        out.extend(route.routes if isinstance(route, DeferredRoutes) else [route])
    return out
