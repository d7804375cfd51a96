"""Unit: pooling, normalisation and `dimensions` truncation as pure numpy."""

from __future__ import annotations

import numpy as np
import pytest

from handler.embedder import l2_normalize, pool, truncate_dimensions

pytestmark = pytest.mark.unit


@pytest.fixture
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    hidden = rng.standard_normal((3, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=np.int64)
    return hidden, mask


def test_mean_pooling_ignores_padding(batch: tuple[np.ndarray, np.ndarray]) -> None:
    hidden, mask = batch
    pooled = pool(hidden, mask, "mean")
    for row in range(3):
        length = int(mask[row].sum())
        np.testing.assert_allclose(pooled[row], hidden[row, :length].mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize("mode", ["mean", "max", "cls"])
def test_pooling_is_bit_identical_whatever_the_padding(mode: str) -> None:
    # GIVEN one sequence's states alone and inside a wider, padded batch with other rows
    rng = np.random.default_rng(7)
    states = rng.standard_normal((37, 384)).astype(np.float32)
    wide = rng.standard_normal((4, 101, 384)).astype(np.float32)
    wide[2, :37] = states
    mask = np.zeros((4, 101), dtype=np.int64)
    mask[:, :60] = 1
    mask[2] = 0
    mask[2, :37] = 1
    alone = pool(states[None], np.ones((1, 37), dtype=np.int64), mode)[0]
    # THEN its pooled vector is the same bits (a padded-width matmul would not guarantee it)
    np.testing.assert_array_equal(pool(wide, mask, mode)[2], alone)


def test_max_pooling_ignores_padding(batch: tuple[np.ndarray, np.ndarray]) -> None:
    hidden, mask = batch
    hidden[1, 3] = 100.0  # a padded position must not win
    pooled = pool(hidden, mask, "max")
    np.testing.assert_allclose(pooled[1], hidden[1, :2].max(axis=0))


def test_cls_pooling_takes_the_first_token(batch: tuple[np.ndarray, np.ndarray]) -> None:
    hidden, mask = batch
    np.testing.assert_array_equal(pool(hidden, mask, "cls"), hidden[:, 0])


def test_unknown_pooling_mode(batch: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="weighted"):
        pool(*batch, "weighted")


def test_l2_normalize_gives_unit_rows() -> None:
    vectors = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(l2_normalize(vectors), [[0.6, 0.8], [0.0, 0.0]])


def test_truncate_dimensions_keeps_prefix_and_renormalises() -> None:
    vectors = l2_normalize(np.arange(1, 13, dtype=np.float32).reshape(2, 6))
    cut = truncate_dimensions(vectors, 2)
    assert cut.shape == (2, 2)
    assert cut.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(cut[0] / cut[0, 0], vectors[0, :2] / vectors[0, 0], rtol=1e-6)
    assert truncate_dimensions(vectors, 6) is vectors


@pytest.mark.parametrize("bad", [0, -1, 7])
def test_truncate_dimensions_rejects_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError):
        truncate_dimensions(np.ones((1, 6), dtype=np.float32), bad)
