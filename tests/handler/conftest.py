"""Fixtures for the handler tests: apps built from explicit settings, the
Lambda handler over those apps, API Gateway event fixtures, and a live uvicorn server.

Every app here is built with auth_enabled=False and no authenticator: these tests are about
the API contract, not keys (tests/usage/ covers those).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from handler.embedder import Embedder
from handler.factory import create_app
from handler.lambda_adapter import LambdaAdapter, lambda_handler_for
from handler.settings import Settings
from tests.handler.handler_support import ALIAS, ListRecorder, LiveServer
from tests.live import serve_in_thread


@pytest.fixture(scope="session")
def base_settings(model_dir: Path) -> Settings:
    return Settings(model_dir=model_dir, model_aliases=(ALIAS,), onnx_threads=2, auth_enabled=False)


@pytest.fixture
def make_app(base_settings: Settings, embedder: Embedder) -> Callable[..., FastAPI]:
    def build(recorder: ListRecorder | None = None, **overrides: Any) -> FastAPI:
        return create_app(replace(base_settings, **overrides), embedder, recorder=recorder)

    return build


@pytest.fixture
def recorder() -> ListRecorder:
    return ListRecorder()


@pytest.fixture
def client(make_app: Callable[..., FastAPI], recorder: ListRecorder) -> Iterator[TestClient]:
    with TestClient(make_app(recorder=recorder), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def lambda_handler(
    make_app: Callable[..., FastAPI],
) -> Iterator[Callable[..., Callable[[dict[str, Any], Any], dict[str, Any]]]]:
    built: list[LambdaAdapter] = []

    def build(api_base_path: str = "/", **overrides: Any) -> LambdaAdapter:
        built.append(lambda_handler_for(make_app(**overrides), api_base_path))
        return built[-1]

    yield build
    for adapter in built:
        adapter.close()


@pytest.fixture(scope="session")
def live_server(base_settings: Settings, embedder: Embedder) -> Iterator[LiveServer]:
    """The app served by uvicorn on a free loopback port, in a thread of this process."""
    recorder = ListRecorder()
    with serve_in_thread(create_app(base_settings, embedder, recorder=recorder)) as base:
        yield LiveServer(base_url=f"{base}/v1", recorder=recorder)
