"""What a build depends on, hashed into one key, so an unchanged rebuild is skipped.

Torch-free and cheap (one pass of sha256 over the source files), so `make model` answers
"up to date" in about a second.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

from handler.artifact import sha256_file

HERE = Path(__file__).resolve().parent
# The service code the build runs: pooling and the ORT session for calibration and the gate,
# and the encoders the int8 scale is calibrated and gated with.
SHARED_CODE = (HERE.parent / "handler" / "embedder.py", HERE.parent / "handler" / "encodings.py")
CORPUS_DIR = HERE / "corpus"
HELDOUT = CORPUS_DIR / "heldout.txt"
CALIBRATION = CORPUS_DIR / "calibration.txt"
LONGDOCS = CORPUS_DIR / "longdocs.jsonl"  # the long-input check (model_artifacts/long_inputs.py)
# Packages whose versions change the bytes of the artifact or the reference it is gated on.
PINNED = (
    "torch",
    "transformers",
    "sentence-transformers",
    "onnx",
    "onnxruntime",
    "tokenizers",
    "numpy",
)


def read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def tool_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PINNED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root, keyed by relative path (dot-directories skipped)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(
            part.startswith(".") or part == "__pycache__" for part in rel.parts
        ):
            out[rel.as_posix()] = sha256_file(path)
    return out


def inputs_key(source: Path, recipe: dict[str, Any], model_id: str) -> str:
    """One sha256 over everything that decides the artifact's bytes and its figures."""
    code = {p.name: sha256_file(p) for p in sorted(HERE.glob("*.py"))}
    code["requirements-export.txt"] = sha256_file(HERE / "requirements-export.txt")
    for shared in SHARED_CODE:
        code[f"handler/{shared.name}"] = sha256_file(shared)
    payload = {
        "model_id": model_id,
        "recipe": recipe,
        "source": tree_hashes(source),
        "code": code,
        "corpus": {p.name: sha256_file(p) for p in (HELDOUT, CALIBRATION, LONGDOCS)},
        "tools": tool_versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
