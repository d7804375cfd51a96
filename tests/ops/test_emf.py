"""EMF: one line per request through the Lambda handler, valid against the specification,
with the values the client was answered with, bounded dimensions, and no secret or text."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from emf_spec import emf_problems
from fastapi import FastAPI

from handler.embedder import Embedder
from handler.factory import create_app
from handler.hooks import Caller, Credentials, UsageRecord
from handler.lambda_adapter import LambdaAdapter, lambda_handler_for
from handler.metrics import DIMENSIONS, UNITS, RequestMetrics, ShardMetrics, emf_document
from handler.settings import Settings

EVENTS = Path(__file__).resolve().parents[2] / "events"
SECRET_TEXT = "the violet heron-93 crossed"
MakeApp = Callable[..., tuple[FastAPI, io.StringIO]]


def event(path: str = "/v1/embeddings", body: dict[str, Any] | None = None, rid: str = "r-1"):
    loaded: dict[str, Any] = json.loads((EVENTS / "http-api-v2-embeddings.json").read_text())
    loaded["rawPath"] = loaded["requestContext"]["http"]["path"] = path
    loaded["requestContext"]["http"]["method"] = "GET" if path == "/health" else "POST"
    loaded["requestContext"]["requestId"] = rid
    if body is not None:
        loaded["body"] = base64.b64encode(json.dumps(body).encode()).decode()
        loaded["isBase64Encoded"] = True
    return loaded


@pytest.fixture
def adapters() -> Iterator[list[LambdaAdapter]]:
    built: list[LambdaAdapter] = []
    yield built
    for adapter in built:
        adapter.close()


def handler_for(app: FastAPI, adapters: list[LambdaAdapter]) -> LambdaAdapter:
    adapters.append(lambda_handler_for(app))
    return adapters[-1]


def emitted(lines: io.StringIO) -> list[dict[str, Any]]:
    text = lines.getvalue().splitlines()
    for line in text:
        assert emf_problems(line) == [], line
    return [json.loads(line) for line in text]


class FixedRecorder:
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome

    def record(self, usage: UsageRecord) -> str:
        return self.outcome


@pytest.mark.unit
def test_the_checker_rejects_what_the_spec_forbids() -> None:
    good = emf_document(RequestMetrics("r", "m", cold=True, init_ms=5.0), "Ns", 1_700_000_000_000)
    assert emf_problems(json.dumps(good)) == []
    broken: list[dict[str, Any]] = []
    for damage in (
        lambda d: d.pop("Latency"),  # a metric without its member
        lambda d: d.update(route=7),  # a dimension value that is not a string
        lambda d: d["_aws"].update(Timestamp="now"),
        lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"].extend(
            {"Name": "Requests"} for _ in range(100)
        ),
        lambda d: d["_aws"]["CloudWatchMetrics"][0]["Dimensions"].append(
            [f"d{i}" for i in range(31)]
        ),
        lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Tokens"),
        lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace="a:b"),
    ):
        document = json.loads(json.dumps(good))
        damage(document)
        broken.append(document)
    for document in broken:
        assert emf_problems(json.dumps(document)), document
    assert emf_problems("prefix " + json.dumps(good)) == ["not one JSON document"]


@pytest.mark.unit
def test_every_metric_fits_one_document_with_one_dimension() -> None:
    everything = RequestMetrics(
        "r", "m", cold=True, init_ms=1.0, model_ms=2.0, inputs=3, tokens=4, usage_outcome="logged"
    )
    document = emf_document(everything, "Ns", 1_700_000_000_000)
    directive = document["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert directive["Dimensions"] == [list(DIMENSIONS)] == [["route"]]
    assert all(set(m) == {"Name"} for m in directive["Metrics"])  # no units: bytes per line
    assert len(UNITS) <= 100
    assert {m["Name"] for m in directive["Metrics"]} <= set(UNITS)


@pytest.mark.unit
def test_a_shard_is_one_valid_document_under_the_batches_route() -> None:
    shard = ShardMetrics("batch_1", 3, "m", completed=480, failed=20, latency_ms=8123.4567)
    document = emf_document(shard, "Ns", 1_700_000_000_000)
    assert emf_problems(json.dumps(document)) == []
    assert document["route"] == "/v1/batches" and "model" not in document
    assert (document["BatchLinesCompleted"], document["BatchLinesFailed"]) == (480, 20)
    assert document["BatchShardLatency"] == 8123.457
    assert (document["batchId"], document["shard"]) == ("batch_1", 3)  # properties, not dims
    directive = document["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert {m["Name"] for m in directive["Metrics"]} <= set(UNITS)
    assert "Latency" not in document  # a shard is not an HTTP request


@pytest.mark.functional
def test_one_valid_line_per_request_with_what_the_client_got(
    make_app: MakeApp, adapters: list[LambdaAdapter]
) -> None:
    app, lines = make_app()
    handler = handler_for(app, adapters)
    context = SimpleNamespace(aws_request_id="lambda-invoke-1")
    body = {
        "model": "text-embedding-3-small",
        "input": [SECRET_TEXT, "two"],
        "encoding_format": "base64",
    }
    first = handler(event(body=body, rid="apigw-1"), context)
    second = handler(event(body={**body, "encoding_format": "float"}, rid="apigw-2"), context)
    missing = handler(event(path="/v1/nowhere/" + SECRET_TEXT, rid="apigw-3"), context)
    bad = handler(event(body={"model": "text-embedding-3-small"}, rid="apigw-4"), context)
    assert bad["statusCode"] == 400
    documents = emitted(lines)
    assert len(documents) == 4  # one line per request, errors included
    one, two, three, four = documents

    usage = json.loads(first["body"])["usage"]
    assert (one["Tokens"], one["Inputs"]) == (usage["total_tokens"], 2)
    assert one["route"] == "/v1/embeddings" and "model" not in one  # one model per stack
    assert one["ModelLatency"] > 0 and one["Latency"] >= one["ModelLatency"]
    # a 200 says nothing of its status, ids or encoding: only what has news (issue 19)
    assert set(two) == {"_aws", "route", "Latency", "Inputs", "Tokens", "ModelLatency"}
    assert "keyId" not in one  # auth off: no key

    # cold start: on the container's first request only, in the metric and in the header
    assert one["ColdStart"] == 1 and "ColdStart" not in two
    assert first["headers"]["x-cold-start"] == "true"
    assert second["headers"]["x-cold-start"] == "false"

    # an unmatched path is one bounded route value, never the raw path
    assert missing["statusCode"] == 404 and three["route"] == "unmatched"
    assert (three["Status4xx"], four["Status4xx"], four["route"]) == (1, 1, "/v1/embeddings")
    assert (three["statusCode"], four["statusCode"]) == (404, 400)
    assert "Status5xx" not in three and "Status4xx" not in one
    assert "Tokens" not in three and "Tokens" not in four  # the model never ran
    assert all(SECRET_TEXT not in json.dumps(d) and "heron" not in json.dumps(d) for d in documents)


@pytest.mark.functional
def test_init_duration_rides_on_the_first_request(
    make_app: MakeApp, adapters: list[LambdaAdapter]
) -> None:
    app, lines = make_app()
    app.state.metrics.init_ms = 512.5
    handler = handler_for(app, adapters)
    for rid in ("a", "b"):
        handler(event(path="/health", rid=rid), None)
    first, second = emitted(lines)
    assert (first["InitDuration"], first["ColdStart"], first["route"]) == (512.5, 1, "/health")
    assert "InitDuration" not in second and "ColdStart" not in second


@pytest.mark.functional
@pytest.mark.parametrize("outcome", ["written", "duplicate", "queued", "logged"])
def test_usage_outcome_and_key_id_travel_with_the_request(
    make_app: MakeApp, adapters: list[LambdaAdapter], outcome: str
) -> None:
    def authenticate(credentials: Credentials) -> Caller:
        return Caller("key_0123456789abcdef")

    app, lines = make_app(recorder=FixedRecorder(outcome), authenticator=authenticate)
    handler = handler_for(app, adapters)
    handler(event(body={"model": "all-MiniLM-L6-v2", "input": "hi"}), None)
    (document,) = emitted(lines)
    name = f"Usage{outcome.capitalize()}"
    said = {n for n in document if n.startswith("Usage")}
    assert said == (set() if outcome == "written" else {name})  # written is the rule
    assert "ModelLatency" in document  # written = model runs minus the outcomes said
    assert document["keyId"] == "key_0123456789abcdef"
    assert "keyId" not in DIMENSIONS  # a property for Logs Insights, never a dimension


@pytest.mark.functional
def test_the_default_sink_is_stdout_and_can_be_turned_off(
    settings: Settings, embedder: Embedder, adapters: list[LambdaAdapter],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    handler = handler_for(create_app(settings, embedder), adapters)
    handler(event(path="/health"), None)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and emf_problems(out[0]) == []
    assert json.loads(out[0])["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Embeddings/test"
    quiet = handler_for(create_app(replace(settings, metrics_enabled=False), embedder), adapters)
    quiet(event(path="/health"), None)
    assert capsys.readouterr().out == ""


@pytest.mark.functional
def test_metrics_log_appends_to_a_file(
    settings: Settings, embedder: Embedder, adapters: list[LambdaAdapter], tmp_path: Path
) -> None:
    path = tmp_path / "metrics.log"
    app = create_app(replace(settings, metrics_log=str(path)), embedder)
    handler = handler_for(app, adapters)
    for rid in ("x", "y"):
        handler(event(path="/health", rid=rid), None)
    app.state.metrics.sinks[0].stream.close()  # a server keeps it open for its lifetime
    lines = path.read_text().splitlines()
    assert [json.loads(line)["route"] for line in lines] == ["/health", "/health"]


@pytest.mark.functional
def test_a_failing_sink_never_fails_the_request(
    make_app: MakeApp, adapters: list[LambdaAdapter]
) -> None:
    class Broken:
        def emit(self, metrics: RequestMetrics) -> None:
            raise OSError("disk full")

    app, lines = make_app()
    app.state.metrics.sinks.insert(0, Broken())
    response = handler_for(app, adapters)(event(path="/health"), None)
    assert response["statusCode"] == 200
    assert len(emitted(lines)) == 1  # the next sink still got it
