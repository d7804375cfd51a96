"""Shared fixtures: the model artifacts the model-backed tests use.

MODEL_DIR (default build/model, as the Makefile builds it) must hold a built artifact, and
MODELS_DIR (default build/models) the models served beside it (`make models`); a missing one
fails loudly with the command that builds it rather than skipping tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("MODEL_DIR") or REPO / "build" / "model")
if not MODEL_DIR.is_absolute():
    MODEL_DIR = REPO / MODEL_DIR
MODELS_DIR = Path(os.environ.get("MODELS_DIR") or REPO / "build" / "models")
if not MODELS_DIR.is_absolute():
    MODELS_DIR = REPO / MODELS_DIR
FP32_MODEL = "all-MiniLM-L6-v2-fp32"  # the default model's weights, unquantized


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.fail(f"no model artifact in {MODEL_DIR}: run `make model` (or set MODEL_DIR)")
    return MODEL_DIR


@pytest.fixture(scope="session")
def fp32_model_dir() -> Path:
    found = MODELS_DIR / FP32_MODEL
    if not (found / "manifest.json").is_file():
        pytest.fail(f"no model artifact in {found}: run `make models` (or set MODELS_DIR)")
    return found
