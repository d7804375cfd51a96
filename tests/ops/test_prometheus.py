"""GET /metrics under uvicorn: opt-in, the same figures as the EMF lines, parsed with
prometheus_client's own parser; and the Lambda path never imports prometheus_client."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from handler.prometheus import install
from tests.live import serve_in_thread

REPO = Path(__file__).resolve().parents[2]
MakeApp = Callable[..., tuple[FastAPI, io.StringIO]]


@pytest.fixture
def served(make_app: MakeApp) -> Iterator[tuple[str, io.StringIO]]:
    """The app with /metrics installed, under uvicorn on a free loopback port."""
    app, lines = make_app()
    install(app)
    with serve_in_thread(app, lifespan="auto") as base:
        yield base, lines


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.mark.integration
def test_metrics_endpoint_counts_what_the_emf_lines_say(served: tuple[str, io.StringIO]) -> None:
    base, lines = served
    tokens = 0
    with httpx.Client(base_url=base) as client:
        for text in (["one"], ["two words", "and three more words"]):
            body = {"model": "all-MiniLM-L6-v2", "input": text}
            answer = client.post("/v1/embeddings", json=body)
            assert answer.status_code == 200
            tokens += answer.json()["usage"]["total_tokens"]
        assert client.post("/v1/embeddings", json={"input": "no model"}).status_code == 400
        exposition = client.get("/metrics")
    assert exposition.headers["content-type"].startswith("text/plain")
    found = samples(exposition.text)
    route = (("model", "all-MiniLM-L6-v2"), ("route", "/v1/embeddings"))

    def requests(status_class: str) -> float:
        return found[
            ("embeddings_requests_total", tuple(sorted((*route, ("status_class", status_class)))))
        ]

    assert (requests("2xx"), requests("4xx")) == (2, 1)
    assert found[("embeddings_tokens_total", route)] == tokens
    assert found[("embeddings_inputs_total", route)] == 3
    assert found[("embeddings_model_seconds_count", route)] == 2
    assert found[("embeddings_request_seconds_count", route)] == 3
    assert found[("embeddings_cold_starts_total", ())] == 1
    assert found[("embeddings_usage_records_total", (("outcome", "logged"),))] == 0

    emf = [json.loads(line) for line in lines.getvalue().splitlines()]
    emf = [d for d in emf if d["route"] == "/v1/embeddings"]  # not the GET /metrics
    assert sum(d.get("Tokens", 0) for d in emf) == tokens  # the same figures, both ways
    assert sum(d.get("Status4xx", 0) for d in emf) == 1 and len(emf) == 3  # 2 answered 2xx


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ, "PYTHONPATH": str(REPO), "AUTH_ENABLED": "false",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
        "METRICS_ENABLED": "false", **env,
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environment,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


ROUTES_AND_MODULES = """
import sys
from starlette.testclient import TestClient
from {module} import app
print(TestClient(app).get("/metrics").status_code, "prometheus_client" in sys.modules)
"""


@pytest.mark.integration
@pytest.mark.parametrize(
    ("module", "enabled", "serves"),
    [
        ("handler.app", "true", False),  # what Lambda imports: never, whatever the setting
        ("handler.server", "false", False),  # opt-in: off by default
        ("handler.server", "true", True),
    ],
)
def test_only_the_uvicorn_entry_point_loads_prometheus_when_asked(
    model_dir: Path, module: str, enabled: str, serves: bool
) -> None:
    result = run_python(
        ROUTES_AND_MODULES.format(module=module), MODEL_DIR=str(model_dir),
        PROMETHEUS_METRICS=enabled,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    status, imported = result.stdout.split()
    assert (status, imported) == ("200" if serves else "404", str(serves))
