"""The model artifact contract: manifest.json written by model_artifacts/, read here.

A model directory holds `model.onnx`, `tokenizer.json` and `manifest.json`. The manifest
lists the sha256 of every other file; `load_manifest(verify=True)` refuses a directory whose
files are missing, corrupted or from another build, so a bad layer fails the cold start with a
clear message instead of serving wrong vectors.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
POOLING_MODES = ("mean", "cls", "max")
REQUIRED_FILES = ("model.onnx", "tokenizer.json")
# Informational sections kept in Manifest.extra: how the artifact was made and measured, the
# tokenizer settings shipped in tokenizer.json, the full onnx section (graph optimisation level).
EXTRA_SECTIONS = (
    "quantization",
    "source",
    "fidelity",
    "invariance",
    "speed",
    "tokenizer",
    "onnx",
    "build",
)


class ArtifactError(Exception):
    """The model directory is missing, malformed, or fails its checksums."""


@dataclass(frozen=True)
class Manifest:
    model_id: str  # served model id, e.g. "all-MiniLM-L6-v2"
    dimensions: int  # embedding width before any `dimensions` truncation
    max_input_tokens: int  # max sequence length, special tokens included
    pooling: str  # one of POOLING_MODES
    normalize: bool  # L2-normalise pooled vectors
    vocab_size: int  # token ids must lie in [0, vocab_size)
    special_tokens: dict[str, Any]  # add_special_tokens, cls/sep/pad/unk ids
    onnx_inputs: tuple[str, ...]  # graph input names, e.g. input_ids, attention_mask, ...
    onnx_output: str  # graph output holding per-token hidden states
    files: dict[str, str]  # file name -> sha256 hex
    extra: dict[str, Any] = field(default_factory=dict)  # quantization, source, fidelity, speed
    # sentence-transformers' prompts (config_sentence_transformers.json): name -> text put
    # before an input, and the one used when a request names none. An empty prompt is kept:
    # sentence-transformers then uses it (no prefix) rather than the default.
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None

    @property
    def artifact_sha(self) -> str:
        """One id for the whole artifact: sha256 over the sorted per-file hashes."""
        joined = "".join(f"{name}:{sha}\n" for name, sha in sorted(self.files.items()))
        return hashlib.sha256(joined.encode()).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_manifest(raw: dict[str, Any]) -> Manifest:
    """Validate a manifest dict; raise ArtifactError naming the bad field."""
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(
            f"manifest schema_version {raw.get('schema_version')!r} != {SCHEMA_VERSION}"
        )
    try:
        onnx = raw["onnx"]
        manifest = Manifest(
            model_id=str(raw["model_id"]),
            dimensions=int(raw["dimensions"]),
            max_input_tokens=int(raw["max_input_tokens"]),
            pooling=str(raw["pooling"]),
            normalize=bool(raw["normalize"]),
            vocab_size=int(raw["vocab_size"]),
            special_tokens=dict(raw["special_tokens"]),
            onnx_inputs=tuple(onnx["inputs"]),
            onnx_output=str(onnx["output"]),
            files=dict(raw["files"]),
            extra={k: raw[k] for k in EXTRA_SECTIONS if k in raw},
            **_prompts(raw.get("prompts") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"manifest is missing or has a bad field: {exc}") from exc
    if manifest.pooling not in POOLING_MODES:
        raise ArtifactError(f"manifest pooling {manifest.pooling!r} not in {POOLING_MODES}")
    if manifest.dimensions < 1 or manifest.max_input_tokens < 1 or manifest.vocab_size < 1:
        raise ArtifactError("manifest dimensions, max_input_tokens and vocab_size must be >= 1")
    missing = [name for name in REQUIRED_FILES if name not in manifest.files]
    if missing:
        raise ArtifactError(f"manifest lists no sha256 for {', '.join(missing)}")
    return manifest


def _prompts(section: dict[str, Any]) -> dict[str, Any]:
    """The manifest's optional `prompts` section: {"prompts": {name: text}, "default_prompt_name"}.
    Absent in artifacts built before prompts were recorded: a model without prompts."""
    prompts = section.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()
    ):
        raise ValueError("prompts.prompts must map prompt names to strings")
    default = section.get("default_prompt_name")
    if default is not None and default not in prompts:
        raise ValueError(f"prompts.default_prompt_name {default!r} is not one of the prompts")
    return {"prompts": dict(prompts), "default_prompt_name": default}


def load_manifest(model_dir: Path | str, verify: bool = True) -> Manifest:
    """Read and validate `model_dir/manifest.json`; with verify, check every file's sha256.

    Raises ArtifactError with the path and the reason.
    """
    model_dir = Path(model_dir)
    manifest_path = model_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ArtifactError(
            f"no {MANIFEST_NAME} in {model_dir}: build the artifact with `make model` "
            "or point MODEL_DIR at a built one"
        )
    try:
        raw = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise ArtifactError(f"{manifest_path} is not valid JSON: {exc}") from exc
    manifest = parse_manifest(raw)
    if verify:
        for name, expected in manifest.files.items():
            path = model_dir / name
            if not path.is_file():
                raise ArtifactError(f"{path} is listed in the manifest but missing")
            actual = sha256_file(path)
            if actual != expected:
                raise ArtifactError(
                    f"{path} sha256 {actual[:12]}… does not match the manifest's "
                    f"{expected[:12]}…: the artifact is corrupted or from another build"
                )
    return manifest
