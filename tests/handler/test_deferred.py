"""Functional: routes deferred to their first request (handler/deferred.py) answer as the real
routes would, are built once and only for their prefixes, and are in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from handler.deferred import DeferredRoutes, expanded
from handler.embedder import Embedder
from handler.factory import create_app
from handler.settings import Settings

pytestmark = pytest.mark.functional


def things_router() -> APIRouter:
    api = APIRouter()

    @api.get("/v1/things/{thing_id}")
    async def get_thing(request: Request) -> Response:
        return Response(request.path_params["thing_id"])

    @api.post("/v1/things")
    async def create_thing(request: Request) -> Response:
        return Response("made", status_code=201)

    return api


@pytest.fixture
def app_and_builds(
    base_settings: Settings, embedder: Embedder
) -> Callable[[], tuple[TestClient, list[int]]]:
    def build() -> tuple[TestClient, list[int]]:
        builds: list[int] = []

        def routers() -> list[APIRouter]:
            builds.append(1)
            return [things_router()]

        deferred = DeferredRoutes(("/v1/things",), routers)
        app = create_app(replace(base_settings), embedder, deferred=[deferred])
        return TestClient(app, raise_server_exceptions=False), builds

    return build


def test_other_routes_and_unknown_paths_do_not_build_them(
    app_and_builds: Callable[[], tuple[TestClient, list[int]]],
) -> None:
    client, builds = app_and_builds()
    assert client.get("/health").status_code == 200
    assert client.post("/v1/embeddings", json={"input": "hi", "model": "x"}).status_code == 404
    assert client.get("/v1/thingsmore").status_code == 404
    assert builds == []


def test_first_request_builds_once_and_matches_like_the_real_routes(
    app_and_builds: Callable[[], tuple[TestClient, list[int]]],
) -> None:
    client, builds = app_and_builds()
    got = client.get("/v1/things/abc")
    assert (got.status_code, got.text) == (200, "abc")
    assert client.post("/v1/things").status_code == 201
    wrong_method = client.delete("/v1/things/abc")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "invalid_request_error"  # our envelope
    missing: dict[str, Any] = client.get("/v1/things/abc/more").json()
    assert missing["error"]["message"]
    assert builds == [1]


def test_openapi_document_lists_deferred_routes(
    app_and_builds: Callable[[], tuple[TestClient, list[int]]],
) -> None:
    client, builds = app_and_builds()
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/things/{thing_id}" in paths and "post" in paths["/v1/things"]
    assert builds == [1]


def test_expanded_replaces_deferred_routes_with_theirs() -> None:
    deferred = DeferredRoutes(("/v1/things",), lambda: [things_router()])
    assert not deferred.built
    paths = [getattr(route, "path", None) for route in expanded([deferred])]
    assert paths == ["/v1/things/{thing_id}", "/v1/things"]
    assert deferred.built
