"""`make bench-smoke` in CI: every section of the bench still runs end to end on tiny sizes.

It checks that the bench works (every section ran, the JSON, table and chart were written),
never what the figures are: speed is the bench's business, not the test suite's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import SECTIONS

REPO = Path(__file__).resolve().parents[2]
ENGINES = {"st", "ours", "onnx", "fastembed"}

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smoke(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("bench-smoke")
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done, out


def test_every_section_runs(smoke: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, out = smoke
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((out / "latest.json").read_text())
    for name in SECTIONS:
        assert results[name]["status"] == "ok", (name, results[name])


def test_every_engine_is_measured_or_says_why(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = smoke
    rows = json.loads((out / "latest.json").read_text())["throughput"]["rows"]
    assert {row["engine"] for row in rows} == ENGINES
    for row in rows:
        if row["engine"] == "fastembed" and row["status"] == "unavailable":
            assert row["reason"].strip()  # the stated reason it cannot load our export
            continue
        assert row["status"] == "ok", row
        assert row["texts_per_s"] > 0
        assert row["min_cosine_to_st"] > 0.95  # every engine embeds the same model


def test_table_and_chart_are_written(smoke: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, out = smoke
    table = (out / "latest.md").read_text()
    for heading in ("### Targets", "### Throughput", "### Cold start", "### Cost"):
        assert heading in table
        assert heading in done.stdout
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bakeoff_measures_every_candidate_or_says_why(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = smoke
    part = json.loads((out / "latest.json").read_text())["bakeoff"]
    rows = {row["label"]: row for row in part["rows"]}
    assert {row["runtime"] for row in rows.values()} == {"torch", "ort", "ct2"}
    for row in rows.values():
        if row["runtime"] == "ct2" and row["status"] == "unavailable":
            assert row["reason"].strip()  # ctranslate2 is installed by `make bench-venv`
            continue
        assert row["status"] == "ok", row
        assert row["texts_per_s"]["1"] > 0 and row["texts_per_s"]["2"] > 0
        assert row["texts_per_cpu_s"]["1"] > 0 and row["texts_per_cpu_s"]["2"] > 0
    shipped = rows["onnxruntime row-local int8 (shipped)"]
    assert shipped["invariance_max_abs_diff"] <= 1e-6  # the shipped engine is batch-invariant
    assert part["isa"] and part["flops_per_token"] > 0
