"""Unit: the ONNX session optimisation level comes from the manifest."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import onnxruntime as ort
import pytest

from handler.artifact import ArtifactError, Manifest
from handler.embedder import session_level

pytestmark = pytest.mark.unit

MANIFEST = Manifest(
    model_id="m",
    dimensions=4,
    max_input_tokens=8,
    pooling="mean",
    normalize=True,
    vocab_size=10,
    special_tokens={},
    onnx_inputs=("input_ids",),
    onnx_output="out",
    files={"model.onnx": "0", "tokenizer.json": "0"},
)


def with_level(level: Any) -> Manifest:
    return replace(MANIFEST, extra={"onnx": {"graph_optimization": {"session_level": level}}})


def test_default_is_no_runtime_optimisation() -> None:
    assert session_level(MANIFEST) == ort.GraphOptimizationLevel.ORT_DISABLE_ALL


@pytest.mark.parametrize("name", ["ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED"])
def test_named_levels(name: str) -> None:
    assert session_level(with_level(name)) == getattr(ort.GraphOptimizationLevel, name)


@pytest.mark.parametrize("name", ["fast", "__class__", 3])
def test_unknown_level_fails_the_load(name: Any) -> None:
    with pytest.raises(ArtifactError, match="session_level"):
        session_level(with_level(name))
