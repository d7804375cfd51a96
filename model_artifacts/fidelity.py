"""How closely quantized embeddings follow the fp32 reference, and the gate they must pass."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

MIN_MEAN_COSINE = 0.999
MIN_MIN_COSINE = 0.995
MIN_RECALL_AT_10 = 0.96


@dataclass(frozen=True)
class Gate:
    min_mean_cosine: float
    min_min_cosine: float
    min_recall_at_10: float


INT8_GATE = Gate(MIN_MEAN_COSINE, MIN_MIN_COSINE, MIN_RECALL_AT_10)
# An fp32 artifact is the reference's own arithmetic in another engine: only float rounding
# may differ (measured: min cosine 1 - 1e-12, recall@10 1.0 on the held-out corpus).
FP32_GATE = Gate(0.999999, 0.99999, 0.995)


@dataclass(frozen=True)
class Fidelity:
    mean_cosine: float
    min_cosine: float
    recall_at_10: float
    corpus_size: int

    def failures(self, gate: Gate = INT8_GATE) -> list[str]:
        """Human-readable reasons the gate is missed; empty when it passes."""
        out = []
        places = max(4, len(str(gate.min_mean_cosine).split(".")[-1]))  # the gate's precision
        if self.mean_cosine < gate.min_mean_cosine:
            out.append(f"mean cosine {self.mean_cosine:.{places}f} < {gate.min_mean_cosine}")
        if self.min_cosine < gate.min_min_cosine:
            out.append(f"min cosine {self.min_cosine:.{places}f} < {gate.min_min_cosine}")
        if self.recall_at_10 < gate.min_recall_at_10:
            out.append(f"recall@10 {self.recall_at_10:.4f} < {gate.min_recall_at_10}")
        return out

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float64)
    norms: np.ndarray = np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    rows: np.ndarray = vectors / norms
    return rows


def top_k_neighbours(unit: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k most similar other rows (itself excluded), by cosine."""
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def recall_at_k(reference: np.ndarray, candidate: np.ndarray, k: int = 10) -> float:
    """Mean share of each text's reference top-k neighbours that the candidate also ranks top-k."""
    ref = top_k_neighbours(unit_rows(reference), k)
    cand = top_k_neighbours(unit_rows(candidate), k)
    hits = [len(set(r.tolist()) & set(c.tolist())) for r, c in zip(ref, cand, strict=True)]
    return float(np.mean(hits) / k)


def measure(reference: np.ndarray, candidate: np.ndarray) -> Fidelity:
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    cosines = (unit_rows(reference) * unit_rows(candidate)).sum(axis=1)
    return Fidelity(
        mean_cosine=float(cosines.mean()),
        min_cosine=float(cosines.min()),
        recall_at_10=recall_at_k(reference, candidate, 10),
        corpus_size=int(reference.shape[0]),
    )
