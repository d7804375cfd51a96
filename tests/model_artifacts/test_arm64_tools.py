"""The arm64 check's host-side pieces: cross-run distances, the summary's verdict, auxv parsing.

The emulated run itself (`make arm64-check`) is too slow for the suite; these cover the code
that turns its outputs into figures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tools.arm64.check import auxv
from tools.arm64.compare import distance, summarise
from tools.arm64.insns import classify, count

pytestmark = pytest.mark.unit


def unit_vectors(seed: int, n: int = 20, dim: int = 8) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    normalised: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return normalised


def write_run(out: Path, name: str, vectors: np.ndarray, invariance_failures: list[str]) -> None:
    run = {
        "invariance_failures": invariance_failures,
        "fidelity_failures": [],
        "invariance": {"max_abs_diff": 0.0, "identical_share": 1.0},
    }
    (out / f"{name}.json").write_text(json.dumps(run))
    np.save(out / f"{name}.npy", vectors)


def test_distance_of_identical_vectors_is_zero() -> None:
    a = unit_vectors(0)
    d = distance(a, a.copy())
    assert d["max_abs_diff"] == 0.0
    assert d["identical_share"] == 1.0
    assert d["min_cosine"] == pytest.approx(1.0, abs=1e-9)


def test_distance_reports_the_worst_component_and_the_rows_that_differ() -> None:
    a = unit_vectors(1)
    b = a.copy()
    b[3, 5] += 0.01
    b[7, 0] -= 0.002
    d = distance(a, b)
    assert d["max_abs_diff"] == pytest.approx(0.01, rel=1e-4)
    assert d["identical_share"] == pytest.approx(18 / 20)
    assert d["min_cosine"] < 1.0


def test_summary_compares_each_run_with_the_baseline_and_fails_on_any_gate(
    tmp_path: Path,
) -> None:
    x86 = unit_vectors(2)
    arm = x86.copy()
    arm[0, 0] += 1e-7
    write_run(tmp_path, "x86_64", x86, [])
    write_run(tmp_path, "arm64-neoverse-n1", arm, [])
    summary = summarise(tmp_path, ["x86_64", "arm64-neoverse-n1"])
    assert summary["ok"] is True
    cross = summary["runs"]["arm64-neoverse-n1"]["vs_x86_64"]
    assert cross["max_abs_diff"] == pytest.approx(1e-7, rel=0.1)
    assert "vs_x86_64" not in summary["runs"]["x86_64"]

    write_run(tmp_path, "arm64-max", arm, ["batch invariance max |diff| 2e-06 > 1e-06"])
    assert summarise(tmp_path, ["x86_64", "arm64-max"])["ok"] is False


def test_auxv_is_read_from_the_running_process() -> None:
    AT_PAGESZ = 6
    assert auxv()[AT_PAGESZ] == os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize(
    ("word", "name"),
    [
        (0x4E829420, "sdot"),  # sdot v0.4s, v1.16b, v2.16b
        (0x6E829420, "udot"),  # udot v0.4s, v1.16b, v2.16b
        (0x2E829420, "udot"),  # udot v0.2s, v1.8b, v2.8b
        (0x4F82E020, "sdot"),  # sdot v0.4s, v1.16b, v2.4b[0]
        (0x6FA2E820, "udot"),  # udot v0.4s, v1.16b, v2.4b[3]
        (0x4E829C20, "usdot"),  # usdot v0.4s, v1.16b, v2.16b
        (0x4E82A420, "smmla"),  # smmla v0.4s, v1.16b, v2.16b
        (0x6E82A420, "ummla"),  # ummla v0.4s, v1.16b, v2.16b
        (0x4E82AC20, "usmmla"),  # usmmla v0.4s, v1.16b, v2.16b
        (0x4E22C020, None),  # smull2 v0.8h, v1.16b, v2.16b: the pre-dot-product path
        (0x4EA29420, None),  # mla v0.4s, v1.4s, v2.4s (size 10, bit 21 set)
        (0xD503245F, None),  # bti
    ],
)
def test_int8_instructions_are_classified_by_encoding(word: int, name: str | None) -> None:
    assert classify(word) == name


def test_qemu_log_counts_each_address_once(tmp_path: Path) -> None:
    log = tmp_path / "qemu.log"
    block = (
        "IN: \n0x0000004000:  6e829420  udot v0.4s, v1.16b, v2.16b\n0x0000004004:  d503245f  hint\n"
    )
    log.write_text("----------------\n" + block + "----------------\n" + block)
    assert count(log) == {"sdot": 0, "udot": 1, "usdot": 0, "smmla": 0, "ummla": 0, "usmmla": 0}
