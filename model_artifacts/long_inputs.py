"""The long-input check: inputs over the model's window, embedded as pooled windows.

On `corpus/longdocs.jsonl` (documents of 300-8,000 tokens from the Python Language Reference,
each with queries drawn out of its text; see corpus/README.md) it measures:
- retrieval, query -> document, recall@1 and recall@10, for int8 pooling (the served path),
  int8 truncation at the window, and the fp32 reference (sentence-transformers in torch) run
  on the same windows and pooled the same way, and truncated;
- fidelity of int8 pooling against fp32 pooling (the gate: fidelity.py's cosine limits);
- batch invariance of pooled documents (the gate: invariance.py's limit).

Torch-free: the fp32 reference comes in as `reference_rows`, a function from window rows (token
ids) to their pooled, unnormalised vectors. Without it (`python -m model_artifacts.long_inputs`)
only the int8 figures are measured, for each window overlap asked for: how WINDOW_OVERLAP was
chosen.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from handler.embedder import Embedder, combine_windows, l2_normalize, load_embedder
from model_artifacts.fidelity import MIN_MEAN_COSINE, MIN_MIN_COSINE, unit_rows
from model_artifacts.inputs import LONGDOCS
from model_artifacts.invariance import MAX_ABS_DIFF, random_requests

RowEncoder = Callable[[list[list[int]]], np.ndarray]
TextEncoder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class LongDocs:
    documents: list[str]
    queries: list[str]
    truth: list[int]  # the index of each query's document

    @classmethod
    def read(cls, path: Path = LONGDOCS) -> LongDocs:
        documents: list[str] = []
        queries: list[str] = []
        truth: list[int] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for query in row["queries"]:
                queries.append(query)
                truth.append(len(documents))
            documents.append(row["text"])
        return cls(documents, queries, truth)


def recall(documents: np.ndarray, queries: np.ndarray, truth: Sequence[int], k: int) -> float:
    """Share of queries whose own document is among the k documents most similar to it."""
    sims = unit_rows(queries) @ unit_rows(documents).T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return float(np.mean([t in row for t, row in zip(truth, top, strict=True)]))


def retrieval(documents: np.ndarray, queries: np.ndarray, truth: Sequence[int]) -> dict[str, float]:
    return {
        "recall_at_1": round(recall(documents, queries, truth, 1), 4),
        "recall_at_10": round(recall(documents, queries, truth, 10), 4),
    }


def pooled_with(
    rows_encoder: RowEncoder, embedder: Embedder, texts: Sequence[str], first_only: bool = False
) -> np.ndarray:
    """Each text's vector from `rows_encoder` over the embedder's own windows, combined and
    normalised as the embedder does: the reference path, pooled the same way (`first_only`:
    the first window alone, which is truncation)."""
    out = []
    for ids in embedder.tokenize(list(texts), "pool").ids:
        rows = embedder.windows(ids)[:1] if first_only else embedder.windows(ids)
        pooled = rows_encoder(rows)
        combined = combine_windows(pooled, [len(r) for r in rows], embedder.manifest.pooling)
        out.append(combined)
    vectors = np.stack(out)
    return l2_normalize(vectors) if embedder.manifest.normalize else vectors


@dataclass(frozen=True)
class LongInputs:
    recall: dict[str, dict[str, float]]
    documents: int
    queries: int
    document_tokens: dict[str, int]
    windows: int
    overlap: int
    fidelity: dict[str, float] = field(default_factory=dict)  # int8 pool vs fp32 pool
    max_abs_diff: float | None = None  # pooled documents alone vs in random requests

    def failures(self) -> list[str]:
        out = []
        mean, low = self.fidelity.get("mean_cosine"), self.fidelity.get("min_cosine")
        if mean is not None and mean < MIN_MEAN_COSINE:
            out.append(f"long inputs: mean cosine {mean:.4f} < {MIN_MEAN_COSINE}")
        if low is not None and low < MIN_MIN_COSINE:
            out.append(f"long inputs: min cosine {low:.4f} < {MIN_MIN_COSINE}")
        if self.max_abs_diff is not None and self.max_abs_diff > MAX_ABS_DIFF:
            out.append(f"long inputs: max |diff| {self.max_abs_diff:.3g} > {MAX_ABS_DIFF:g}")
        return out

    @property
    def pooling_beats_truncation(self) -> bool:
        pool, cut = self.recall["int8_pool"], self.recall["int8_truncate"]
        return (
            pool["recall_at_10"] >= cut["recall_at_10"]
            and pool["recall_at_1"] >= cut["recall_at_1"]
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "corpus": "model_artifacts/corpus/longdocs.jsonl",
            "documents": self.documents,
            "queries": self.queries,
            "document_tokens": self.document_tokens,
            "windows": self.windows,
            "window_overlap": self.overlap,
            "recall": self.recall,
            "pooling_beats_truncation": self.pooling_beats_truncation,
            "fidelity": {**self.fidelity, "reference": "sentence-transformers fp32, same windows"},
            "invariance": {"max_abs_diff": self.max_abs_diff, "gate_max_abs_diff": MAX_ABS_DIFF},
        }


def invariance(load: Callable[[int, int], Embedder], data: LongDocs, seed: int = 0) -> float:
    """Largest component difference of pooled documents, alone (1 thread, batch 1) against
    random requests mixing documents and queries (2 threads batch 32, 1 thread batch 7)."""
    texts = data.documents + data.queries
    alone_embedder = load(1, 1)
    alone = np.stack([alone_embedder.embed([t], "pool").vectors[0] for t in texts])
    rng, worst = random.Random(seed), 0.0
    for threads, batch_size in ((2, 32), (1, 7)):
        embedder = load(threads, batch_size)
        got = np.empty_like(alone)
        for request in random_requests(len(texts), rng):
            got[request] = embedder.embed([texts[i] for i in request], "pool").vectors
        worst = max(worst, float(np.abs(got - alone).max()))
    return worst


def measure_long_inputs(
    int8: Embedder,
    reference_rows: RowEncoder | None = None,
    reference_texts: TextEncoder | None = None,
    load: Callable[[int, int], Embedder] | None = None,
    data: LongDocs | None = None,
) -> LongInputs:
    data = data or LongDocs.read()
    tokens = [len(ids) for ids in int8.tokenize(data.documents, "pool").ids]
    windows = sum(len(int8.windows(ids)) for ids in int8.tokenize(data.documents, "pool").ids)
    queries = int8.embed(data.queries).vectors
    pooled = int8.embed(data.documents, "pool").vectors
    table = {
        "int8_pool": retrieval(pooled, queries, data.truth),
        "int8_truncate": retrieval(
            int8.embed(data.documents, "truncate").vectors, queries, data.truth
        ),
    }
    fidelity: dict[str, float] = {}
    if reference_rows is not None and reference_texts is not None:
        reference = pooled_with(reference_rows, int8, data.documents)
        reference_queries = reference_texts(data.queries)
        table["fp32_pool"] = retrieval(reference, reference_queries, data.truth)
        truncated = pooled_with(reference_rows, int8, data.documents, first_only=True)
        table["fp32_truncate"] = retrieval(truncated, reference_queries, data.truth)
        cosines = (unit_rows(reference) * unit_rows(pooled)).sum(axis=1)
        fidelity = {
            "mean_cosine": round(float(cosines.mean()), 6),
            "min_cosine": round(float(cosines.min()), 6),
        }
    return LongInputs(
        recall=table,
        documents=len(data.documents),
        queries=len(data.queries),
        document_tokens={
            "min": min(tokens),
            "median": sorted(tokens)[len(tokens) // 2],
            "max": max(tokens),
        },
        windows=windows,
        overlap=int8.window_overlap,
        fidelity=fidelity,
        max_abs_diff=None if load is None else invariance(load, data),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="int8 long-input retrieval per window overlap")
    parser.add_argument("--model", type=Path, default=Path("build/model"))
    parser.add_argument("--overlaps", default="0,32,64,128")
    args = parser.parse_args(argv)
    embedder = load_embedder(args.model, threads=2)
    for overlap in (int(o) for o in args.overlaps.split(",")):
        embedder.window_overlap = overlap
        figures = measure_long_inputs(embedder)
        print(json.dumps({"overlap": overlap, "windows": figures.windows, **figures.recall}))


if __name__ == "__main__":
    main()
