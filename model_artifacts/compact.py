"""Compact vectors at build time: the int8 scale's calibration, and recall gates per encoding.

Torch-free: everything is measured on the served vectors (handler.embedder, the int8 artifact)
quantised by the served encoders (handler.encodings), against the same float vectors.

- Calibration: one global scale, 127 / max |component| over the calibration corpus's vectors.
  A scale per dimension would reweight the dimensions and break what int8 users do with the
  vectors, rank by raw integer dot products (measured on the held-out corpus: recall@10 0.909
  per dimension against 0.99 global). Vectors past the calibration's largest component clip.
- Recall@10 against float (the served float vectors' top 10 by dot product):
  int8: raw int8 . int8 dot products;
  binary, raw: Hamming distance between the packed bits;
  binary, rescored: the top RESCORE_FACTOR x 10 by Hamming, reranked by the float query's dot
  product with the int8 document vectors (the usual recipe: bits in memory, int8 on disk).
  On the held-out corpus each sentence queries the others; on the long-document set each
  query asks for its documents.
- Gates: int8 >= MIN_INT8_RECALL and binary rescored >= MIN_RESCORED_RECALL on both sets; the
  raw binary figure is recorded as measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from handler.artifact import sha256_file
from handler.embedder import Embedder
from handler.encodings import INT8_MAX, Int8Calibration, binary, int8
from model_artifacts.inputs import CALIBRATION, HELDOUT, read_lines
from model_artifacts.long_inputs import LongDocs

K = 10
RESCORE_FACTOR = 4  # candidates by Hamming: 4 x k
MIN_INT8_RECALL = 0.99
MIN_RESCORED_RECALL = 0.92


def calibrate_int8(embedder: Embedder) -> dict[str, Any]:
    """The manifest's `encodings.int8`: the scale from the calibration corpus and its sha256,
    so that every container and batch worker quantises alike and a rebuild on another corpus
    shows."""
    texts = read_lines(CALIBRATION)
    vectors = embedder.embed(texts).vectors
    largest = float(np.abs(vectors).max())
    # float32-representable, so a client reading it as float32 multiplies by the same number
    scale = float(np.float32(INT8_MAX / largest))
    return {
        "scale": scale,
        "dimensions": embedder.dimensions,
        "scheme": "one global symmetric scale: q = clip(round_half_even(x * s), -127, 127), "
        "x = q / s; at d < dimensions, s = scale * sqrt(d / dimensions)",
        "calibration": {
            "corpus": "model_artifacts/corpus/calibration.txt",
            "sha256": sha256_file(CALIBRATION),
            "texts": len(texts),
            "max_abs_component": round(largest, 6),
        },
    }


def _top(scores: np.ndarray, k: int, exclude_self: bool) -> np.ndarray:
    scores = scores.astype(np.float64, copy=True)
    if exclude_self:
        np.fill_diagonal(scores, -np.inf)
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _recall(truth: np.ndarray, got: np.ndarray) -> float:
    hits = [len(set(t.tolist()) & set(g.tolist())) for t, g in zip(truth, got, strict=True)]
    share: float = float(np.mean(hits)) / int(truth.shape[1])
    return round(share, 4)


def hamming(queries: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """Bit distances between packed rows (ubinary or binary: the same bits but the high one)."""
    q = np.unpackbits(queries.view(np.uint8), axis=1).astype(np.float32) * 2 - 1
    d = np.unpackbits(documents.view(np.uint8), axis=1).astype(np.float32) * 2 - 1
    distances: np.ndarray = (q.shape[1] - q @ d.T) / 2  # exact: +-1 sums of a few thousand bits
    return distances


def recall_table(
    queries: np.ndarray, documents: np.ndarray, scale: float, exclude_self: bool
) -> dict[str, float]:
    """Recall@10 of each compact encoding against float, queries -> documents."""
    truth = _top(queries @ documents.T, K, exclude_self)
    q8 = int8(queries, scale).astype(np.int32)
    d8 = int8(documents, scale).astype(np.int32)
    u8q, u8d = q8 + 128, d8 + 128
    distance = hamming(binary(queries, 0.0), binary(documents, 0.0))
    depth = min(RESCORE_FACTOR * K + int(exclude_self), documents.shape[0])
    candidates = _top(-distance, depth, exclude_self=False)
    rescored = []
    for row, picked in enumerate(candidates):
        if exclude_self:
            picked = picked[picked != row][: RESCORE_FACTOR * K]
        scores = queries[row].astype(np.float64) @ d8[picked].T
        rescored.append(picked[np.argsort(-scores, kind="stable")[:K]])
    return {
        "int8_dot": _recall(truth, _top(q8 @ d8.T, K, exclude_self)),
        "uint8_raw_dot": _recall(truth, _top(u8q @ u8d.T, K, exclude_self)),
        "binary_hamming": _recall(truth, _top(-distance, K, exclude_self)),
        "binary_rescored_int8": _recall(truth, np.stack(rescored)),
    }


@dataclass(frozen=True)
class CompactRecall:
    heldout: dict[str, float]
    longdocs: dict[str, float]
    texts: int
    queries: int
    documents: int

    def failures(self) -> list[str]:
        out = []
        for name, table in (("held-out", self.heldout), ("long documents", self.longdocs)):
            if table["int8_dot"] < MIN_INT8_RECALL:
                out.append(f"{name}: int8 recall@10 {table['int8_dot']} < {MIN_INT8_RECALL}")
            rescored = table["binary_rescored_int8"]
            if rescored < MIN_RESCORED_RECALL:
                out.append(f"{name}: binary rescored recall@10 {rescored} < {MIN_RESCORED_RECALL}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "k": K,
            "reference": "the served float vectors' top 10 by dot product",
            "rescoring": f"top {RESCORE_FACTOR}k by Hamming, reranked by float query . int8 "
            "document",
            "gates": {"int8_dot": MIN_INT8_RECALL, "binary_rescored_int8": MIN_RESCORED_RECALL},
            "heldout": {
                "corpus": "model_artifacts/corpus/heldout.txt",
                "texts": self.texts,
                "recall_at_10": self.heldout,
            },
            "longdocs": {
                "corpus": "model_artifacts/corpus/longdocs.jsonl",
                "queries": self.queries,
                "documents": self.documents,
                "recall_at_10": self.longdocs,
            },
        }


def measure_compact(
    embedder: Embedder,
    heldout_vectors: np.ndarray | None = None,
    data: LongDocs | None = None,
) -> CompactRecall:
    """Recall of every compact encoding on the held-out corpus and the long-document set, with
    the scale the embedder's manifest carries."""
    calibration = Int8Calibration.from_manifest(embedder.manifest.extra, embedder.dimensions)
    if calibration is None:
        raise ValueError("the manifest has no encodings.int8 scale: calibrate_int8 first")
    if heldout_vectors is None:
        heldout_vectors = embedder.embed(read_lines(HELDOUT)).vectors
    data = data or LongDocs.read()
    queries = embedder.embed(data.queries).vectors
    documents = embedder.embed(data.documents, "pool").vectors
    return CompactRecall(
        heldout=recall_table(heldout_vectors, heldout_vectors, calibration.scale, True),
        longdocs=recall_table(queries, documents, calibration.scale, False),
        texts=len(heldout_vectors),
        queries=len(queries),
        documents=len(documents),
    )
