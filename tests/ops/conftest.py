"""Fixtures for the operations tests: apps with their EMF lines captured."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from handler.embedder import Embedder
from handler.factory import create_app
from handler.metrics import EmfSink
from handler.settings import Settings

NAMESPACE = "Embeddings/test"


@pytest.fixture(scope="session")
def settings(model_dir: Path) -> Settings:
    return Settings(
        model_dir=model_dir,
        model_aliases=("text-embedding-3-small",),
        onnx_threads=2,
        auth_enabled=False,
        metrics_namespace=NAMESPACE,
    )


@pytest.fixture
def make_app(settings: Settings, embedder: Embedder) -> Callable[..., tuple[FastAPI, io.StringIO]]:
    """An app whose EMF lines go to the returned buffer instead of stdout."""

    def build(**hooks: Any) -> tuple[FastAPI, io.StringIO]:
        app = create_app(replace(settings, metrics_enabled=False), embedder, **hooks)
        lines = io.StringIO()
        app.state.metrics.sinks.append(EmfSink(NAMESPACE, lines))
        return app, lines

    return build
