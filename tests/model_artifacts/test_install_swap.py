"""Installing a built artifact replaces the old one whole, never leaving a mix."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_artifacts.install import install_dir

pytestmark = pytest.mark.unit


def make(path: Path, content: str) -> Path:
    path.mkdir()
    (path / "model.onnx").write_text(content)
    return path


def test_first_install_moves_the_directory(tmp_path: Path) -> None:
    built = make(tmp_path / "staging", "new")
    install_dir(built, tmp_path / "model")
    assert (tmp_path / "model" / "model.onnx").read_text() == "new"
    assert not built.exists()


def test_reinstall_replaces_and_removes_the_old(tmp_path: Path) -> None:
    make(tmp_path / "model", "old")
    (tmp_path / "model" / "stale.txt").write_text("from the previous build")
    built = make(tmp_path / "staging", "new")
    install_dir(built, tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.onnx"]
    assert (tmp_path / "model" / "model.onnx").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
