"""Shared fixtures: the model artifact every model-backed test uses.

MODEL_DIR (default build/model, as the Makefile builds it) must hold a built artifact; a
missing one fails loudly with the command that builds it rather than skipping tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("MODEL_DIR") or REPO / "build" / "model")
if not MODEL_DIR.is_absolute():
    MODEL_DIR = REPO / MODEL_DIR


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.fail(f"no model artifact in {MODEL_DIR}: run `make model` (or set MODEL_DIR)")
    return MODEL_DIR
