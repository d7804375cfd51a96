"""The compact-vector check: the int8 calibration, the recall arithmetic, its gate and the
built record (model_artifacts/compact.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from handler.artifact import sha256_file
from handler.embedder import load_embedder
from handler.encodings import INT8_MAX, binary, int8, ubinary
from model_artifacts.compact import (
    MIN_INT8_RECALL,
    MIN_RESCORED_RECALL,
    CompactRecall,
    calibrate_int8,
    hamming,
    recall_table,
)
from model_artifacts.inputs import CALIBRATION, read_lines


def unit_rows(count: int, width: int, seed: int) -> np.ndarray:
    raw = np.random.default_rng(seed).standard_normal((count, width))
    rows: np.ndarray = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
    return rows


@pytest.mark.unit
def test_hamming_counts_differing_bits_on_either_packing() -> None:
    vectors = unit_rows(12, 64, 1)
    bits = (vectors > 0).astype(int)
    expected = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(hamming(ubinary(vectors, 0), ubinary(vectors, 0)), expected)
    np.testing.assert_array_equal(hamming(binary(vectors, 0), binary(vectors, 0)), expected)


@pytest.mark.unit
def test_recall_table_on_vectors_the_quantisers_cannot_reorder() -> None:
    # GIVEN vectors whose neighbours are far apart: each is a distinct +-1/sqrt(d) sign pattern
    rng = np.random.default_rng(5)
    signs = rng.choice([-1.0, 1.0], size=(60, 64))
    vectors = (signs / 8.0).astype(np.float32)
    table = recall_table(vectors, vectors, scale=INT8_MAX / 0.125, exclude_self=True)
    # int8 holds them exactly, the bits hold them exactly: every figure is float's
    assert table["int8_dot"] == 1.0
    assert table["binary_hamming"] == 1.0 and table["binary_rescored_int8"] == 1.0


@pytest.mark.unit
def test_rescoring_recovers_what_hamming_loses() -> None:
    vectors = unit_rows(300, 96, 2)
    table = recall_table(vectors, vectors, scale=INT8_MAX / 0.45, exclude_self=True)
    assert table["binary_rescored_int8"] > table["binary_hamming"]
    assert table["int8_dot"] > table["uint8_raw_dot"]  # the 128 offset reweights documents


@pytest.mark.unit
def test_the_gate() -> None:
    good = {"int8_dot": 0.995, "uint8_raw_dot": 0.6, "binary_hamming": 0.6}
    passing = CompactRecall(
        {**good, "binary_rescored_int8": 0.95}, good | {"binary_rescored_int8": 0.93}, 1, 1, 1
    )
    assert passing.failures() == []
    low = {"int8_dot": MIN_INT8_RECALL - 0.01, "binary_rescored_int8": MIN_RESCORED_RECALL - 0.01}
    failing = CompactRecall({**good, **low}, {**good, "binary_rescored_int8": 0.95}, 1, 1, 1)
    assert len(failing.failures()) == 2


@pytest.mark.functional
def test_the_built_scale_is_the_calibration_of_its_own_vectors(model_dir: Path) -> None:
    """Bit-stable: calibrating the installed artifact again gives the manifest's scale, and
    its recall record passed the gates."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    recorded = manifest.get("encodings")
    if recorded is None:
        pytest.fail(f"{model_dir} has no encodings section: rebuild it with `make model`")
    embedder = load_embedder(model_dir, threads=2)
    again = calibrate_int8(embedder)
    assert again == recorded["int8"]
    assert again["calibration"]["sha256"] == sha256_file(CALIBRATION)
    assert again["calibration"]["texts"] == len(read_lines(CALIBRATION))
    vectors = embedder.embed(read_lines(CALIBRATION)).vectors
    assert np.abs(int8(vectors, again["scale"])).max() == INT8_MAX  # the largest maps to 127
    for corpus in ("heldout", "longdocs"):
        figures = recorded["recall"][corpus]["recall_at_10"]
        assert figures["int8_dot"] >= MIN_INT8_RECALL
        assert figures["binary_rescored_int8"] >= MIN_RESCORED_RECALL
