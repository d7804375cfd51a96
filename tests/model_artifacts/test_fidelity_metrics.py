"""The gate's arithmetic: cosine statistics and recall@10 of within-corpus neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from model_artifacts.fidelity import Fidelity, measure, recall_at_k

pytestmark = pytest.mark.unit


def corpus(n: int = 60, dim: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_identical_embeddings_are_perfect() -> None:
    ref = corpus()
    fid = measure(ref, ref * 3.0)  # scale does not matter: cosines
    assert fid.mean_cosine == pytest.approx(1.0)
    assert fid.min_cosine == pytest.approx(1.0)
    assert fid.recall_at_10 == 1.0
    assert fid.corpus_size == 60
    assert fid.failures() == []


def test_unrelated_embeddings_fail_every_threshold() -> None:
    fid = measure(corpus(seed=0), corpus(seed=1))
    assert fid.recall_at_10 < 0.5
    assert len(fid.failures()) == 3


def test_one_bad_vector_drags_the_minimum_not_the_mean() -> None:
    ref = corpus()
    cand = ref.copy()
    cand[7] = -ref[7]
    fid = measure(ref, cand)
    assert fid.min_cosine == pytest.approx(-1.0)
    assert fid.mean_cosine == pytest.approx((59 - 1) / 60)


def test_recall_counts_shared_neighbours() -> None:
    # GIVEN points on a line: each one's nearest neighbours are its index neighbours
    line = np.stack([np.cos(np.linspace(0, 1.5, 30)), np.sin(np.linspace(0, 1.5, 30))], axis=1)
    assert recall_at_k(line, line, k=2) == 1.0
    shuffled = line[np.random.default_rng(2).permutation(30)]
    assert recall_at_k(line, shuffled, k=2) < 0.5


def test_failures_name_the_missed_threshold() -> None:
    assert Fidelity(0.995, 0.96, 0.93, 1200).failures() == ["min cosine 0.9600 < 0.97"]
    assert Fidelity(0.995, 0.98, 0.89, 1200).failures() == ["recall@10 0.8900 < 0.9"]


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        measure(corpus(n=5), corpus(n=6))
