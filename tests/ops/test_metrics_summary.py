"""`python -m tools.metrics_summary`: the last N requests of a metrics log written by the app
itself, summarised; and what `make serve` prints about where to look."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from handler.embedder import Embedder
from handler.factory import create_app
from handler.settings import Settings
from tools import serve_local

REPO = Path(__file__).resolve().parents[2]


def summary(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.metrics_summary", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


@pytest.mark.integration
def test_summary_of_the_last_requests_matches_what_clients_got(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    log = tmp_path / "metrics.log"
    app = create_app(replace(settings, metrics_log=str(log)), embedder)
    tokens = []
    with TestClient(app) as client:
        assert client.get("/health").json()["cold"] is True
        for n in range(1, 6):
            body = {"model": "all-MiniLM-L6-v2", "input": ["word " * n] * n}
            tokens.append(client.post("/v1/embeddings", json=body).json()["usage"]["total_tokens"])
        assert (
            client.post("/v1/embeddings", json={"model": "nope", "input": "x"}).status_code == 404
        )
    app.state.metrics.sinks[0].stream.close()
    with log.open("a") as extra:
        extra.write("uvicorn said something that is not EMF\n")

    result = summary("--last", "100", "--json", str(log))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert (found["requests"], found["embeddings_requests"]) == (7, 5)
    assert found["status"] == {"2xx": 6, "4xx": 1}
    assert found["tokens"] == sum(tokens) and found["inputs"] == 15
    assert found["cold_starts"] == 1 and len(found["init_ms"]) == 0  # no init measured here
    latencies = sorted(
        json.loads(line)["Latency"]
        for line in log.read_text().splitlines()
        if '"route":"/v1/embeddings"' in line and '"Tokens"' in line
    )
    assert found["latency_p50_ms"] == latencies[math.ceil(0.5 * 5) - 1]
    assert found["latency_p99_ms"] == latencies[-1]
    assert found["tokens_per_model_second"] > 0
    stamps = [
        json.loads(line)["_aws"]["Timestamp"]
        for line in log.read_text().splitlines()
        if '"Tokens"' in line
    ]
    window = (max(stamps) - min(stamps)) / 1000
    assert found["tokens_per_second"] == (round(sum(tokens) / window, 1) if window else None)

    last_two = json.loads(summary("--last", "2", "--json", str(log)).stdout)
    assert (last_two["requests"], last_two["embeddings_requests"]) == (2, 1)
    assert last_two["tokens"] == tokens[-1]
    text = summary("--last", "10", str(log)).stdout
    assert "latency_p99_ms" in text and "cold_starts" in text


@pytest.mark.integration
def test_a_missing_log_says_how_to_get_one(tmp_path: Path) -> None:
    result = summary(str(tmp_path / "none.log"))
    assert result.returncode == 1 and "make serve" in result.stderr


@pytest.mark.unit
def test_make_serve_says_where_to_look(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_METRICS", raising=False)
    text = serve_local.where_to_look("127.0.0.1", 8000, "build/serve/metrics.log")
    assert "tools.metrics_summary --last 100 build/serve/metrics.log" in text
    assert "PROMETHEUS_METRICS=true" in text and "x-cold-start" in text
    monkeypatch.setenv("PROMETHEUS_METRICS", "true")
    assert "http://127.0.0.1:8000/metrics" in serve_local.where_to_look("127.0.0.1", 8000, "m.log")
