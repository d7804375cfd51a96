"""`make model SOURCE=...` on something that is not a sentence-transformers directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # the build's command line, as users run it
REPO = Path(__file__).resolve().parents[2]


def run_build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    # The refusal happens before anything heavy is imported, so this runs without torch.
    return subprocess.run(
        [sys.executable, "-m", "model_artifacts.build", "--source", str(source), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_plain_directory_is_refused_with_the_missing_files(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "README.md").write_text("some other project")
    result = run_build(tmp_path / "src", tmp_path / "out")
    assert result.returncode == 2
    assert (
        "is not a sentence-transformers model directory: missing modules.json, "
        "sentence_bert_config.json, config.json, tokenizer.json, model.safetensors or "
        "pytorch_model.bin" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_path_is_refused(tmp_path: Path) -> None:
    result = run_build(tmp_path / "nope", tmp_path / "out")
    assert result.returncode == 2
    assert "is not a directory" in result.stderr
