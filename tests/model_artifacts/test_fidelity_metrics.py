"""The gate's arithmetic: cosine statistics and recall@10 of within-corpus neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from model_artifacts.fidelity import FP32_GATE, INT8_GATE, Fidelity, measure, recall_at_k

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
    assert Fidelity(0.9995, 0.994, 0.97, 1200).failures() == ["min cosine 0.9940 < 0.995"]
    assert Fidelity(0.9995, 0.998, 0.955, 1200).failures() == ["recall@10 0.9550 < 0.96"]
    assert Fidelity(0.9989, 0.998, 0.97, 1200).failures() == ["mean cosine 0.9989 < 0.999"]


def test_gate_is_mean_0999_min_0995_recall_096_inclusive() -> None:
    # The raised gate (issue 9): exactly at every threshold passes, a hair below fails.
    assert Fidelity(0.999, 0.995, 0.96, 1200).failures() == []
    hair = 1e-9
    assert len(Fidelity(0.999 - hair, 0.995, 0.96, 1200).failures()) == 1
    assert len(Fidelity(0.999, 0.995 - hair, 0.96, 1200).failures()) == 1
    assert len(Fidelity(0.999, 0.995, 0.96 - hair, 1200).failures()) == 1
    # the previous recipe's figures (0.9989 / 0.9972 / 0.952) no longer pass
    assert len(Fidelity(0.9989, 0.9972, 0.952, 1200).failures()) == 2


def test_recall_of_one_swapped_neighbour() -> None:
    # GIVEN 12 points on a circle arc; k=2 neighbours of point 0 are 1 and 2
    angles = np.linspace(0, 1.0, 12)
    ref = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    cand = ref.copy()
    cand[2] = [np.cos(-0.5), np.sin(-0.5)]  # move point 2 far from 0 and 1, beyond the arc
    # THEN recall@2 = mean over points of |shared| / 2, computed by hand from the geometry
    ref_nn = [set(np.argsort(-(ref @ ref[i]))[1:3].tolist()) for i in range(12)]
    cand_nn = [set(np.argsort(-(cand @ cand[i]))[1:3].tolist()) for i in range(12)]
    expected = np.mean([len(r & c) / 2 for r, c in zip(ref_nn, cand_nn, strict=True)])
    assert expected < 1.0
    assert recall_at_k(ref, cand, k=2) == pytest.approx(expected)


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        measure(corpus(n=5), corpus(n=6))


def test_the_fp32_gate_is_stricter_than_the_int8_one() -> None:
    # GIVEN an int8-grade result: THEN it passes the int8 gate and misses the fp32 one
    int8_grade = Fidelity(mean_cosine=0.9992, min_cosine=0.998, recall_at_10=0.965, corpus_size=9)
    assert int8_grade.failures(INT8_GATE) == []
    assert int8_grade.failures(FP32_GATE) == [
        "mean cosine 0.999200 < 0.999999",
        "min cosine 0.998000 < 0.99999",
        "recall@10 0.9650 < 0.995",
    ]
