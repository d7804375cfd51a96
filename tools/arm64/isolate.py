"""Which of padding/batching or thread count moves a vector: a quick split of the invariance gate.

Texts alone at 1 thread are the reference; then alone at 2 threads (threads only, no padding),
and all texts in one padded batch at 1 and at 2 threads. Prints max |diff| for each.

    python -m tools.arm64.isolate --model DIR --reference reference.npz [--texts 16]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from handler.embedder import Embedder, load_embedder
from model_artifacts.invariance import embed_alone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--texts", type=int, default=16)
    args = parser.parse_args(argv)
    every = np.load(args.reference)["texts"]
    texts = [str(t) for t in every[:: max(1, len(every) // args.texts)][: args.texts]]

    def load(threads: int, batch: int) -> Embedder:
        return load_embedder(args.model, threads=threads, batch_size=batch, verify=False)

    reference = embed_alone(load(1, 1), texts)
    cases = {
        "alone, 2 threads": embed_alone(load(2, 1), texts),
        "one padded batch, 1 thread": load(1, len(texts)).embed(texts).vectors,
        "one padded batch, 2 threads": load(2, len(texts)).embed(texts).vectors,
    }
    out = {}
    for name, got in cases.items():
        diff = np.abs(got - reference).max(axis=1)
        out[name] = {"max_abs_diff": float(diff.max()), "identical": int((diff == 0).sum())}
    print(json.dumps({"texts": len(texts), "cases": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
