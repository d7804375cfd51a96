"""The build's input hash: what makes `make model` rebuild, and what lets it skip."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from handler.artifact import load_manifest
from model_artifacts import inputs
from model_artifacts.build import up_to_date
from model_artifacts.inputs import inputs_key

pytestmark = pytest.mark.unit
RECIPE = {"recipe_version": 2}


def test_key_is_stable_for_unchanged_inputs(st_dir: Callable[..., Path]) -> None:
    source = st_dir()
    assert inputs_key(source, RECIPE, "m") == inputs_key(source, RECIPE, "m")


def test_key_follows_source_recipe_and_model_id(st_dir: Callable[..., Path]) -> None:
    source = st_dir()
    key = inputs_key(source, RECIPE, "m")
    assert inputs_key(source, {"recipe_version": 3}, "m") != key
    assert inputs_key(source, RECIPE, "other") != key
    (source / "model.safetensors").write_bytes(b"new weights")
    assert inputs_key(source, RECIPE, "m") != key


def test_key_follows_the_shared_handler_code(
    st_dir: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = st_dir()
    shared = (tmp_path / "embedder.py", tmp_path / "encodings.py")
    for path in shared:
        path.write_text("def pool(): ...\n")
    monkeypatch.setattr(inputs, "SHARED_CODE", shared)
    key = inputs_key(source, RECIPE, "m")
    for path in shared:  # either file's change makes a new key
        path.write_text("def pool(): return 1\n")
        assert inputs_key(source, RECIPE, "m") != key
        key = inputs_key(source, RECIPE, "m")


def test_installed_artifact_is_up_to_date_only_for_its_own_key(
    model_dir: Path, tmp_path: Path
) -> None:
    key = load_manifest(model_dir).extra["build"]["inputs_sha256"]
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    assert up_to_date(copy, key)
    assert not up_to_date(copy, "0" * 64)
    (copy / "tokenizer.json").write_text("{}")  # a damaged artifact is rebuilt, not kept
    assert not up_to_date(copy, key)
