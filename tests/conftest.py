"""The fixtures every tier shares, each defined once for the whole run: the model artifacts,
the embedder; and through its plugins the tier rules (tests/tiers.py) and the out-of-process
services, one DynamoDB Local JVM and one moto server, also under pytest-xdist
(tests/services.py).

MODEL_DIR (default build/model, as the Makefile builds it) must hold a built artifact, and
MODELS_DIR (default build/models) the models served beside it (`make models`); a missing one
fails loudly with the command that builds it rather than skipping tests. The live-server
helper and `free_port` are in tests/live.py.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from handler.embedder import Embedder, load_embedder

pytest_plugins = ["tests.tiers", "tests.services"]

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("MODEL_DIR") or REPO / "build" / "model")
if not MODEL_DIR.is_absolute():
    MODEL_DIR = REPO / MODEL_DIR
MODELS_DIR = Path(os.environ.get("MODELS_DIR") or REPO / "build" / "models")
if not MODELS_DIR.is_absolute():
    MODELS_DIR = REPO / MODELS_DIR
FP32_MODEL = "all-MiniLM-L6-v2-fp32"  # the default model's weights, unquantized

# Test files written before tests/ became a package import their folder's helpers by bare
# name (`from usage_support import Tables`); those names stay bound to the same modules, so
# such a file keeps working and never gets a second copy of a helper's classes.
for _folder, _name in (
    ("batch", "batch_support"),
    ("deploy", "deploy_support"),
    ("handler", "handler_support"),
    ("model_artifacts", "st_dirs"),
    ("ops", "emf_spec"),
    ("usage", "usage_support"),
):
    sys.modules.setdefault(_name, importlib.import_module(f"tests.{_folder}.{_name}"))


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.fail(f"no model artifact in {MODEL_DIR}: run `make model` (or set MODEL_DIR)")
    return MODEL_DIR


@pytest.fixture(scope="session")
def embedder(model_dir: Path) -> Embedder:
    return load_embedder(model_dir, threads=2)


@pytest.fixture(scope="session")
def fp32_model_dir() -> Path:
    found = MODELS_DIR / FP32_MODEL
    if not (found / "manifest.json").is_file():
        pytest.fail(f"no model artifact in {found}: run `make models` (or set MODELS_DIR)")
    return found
