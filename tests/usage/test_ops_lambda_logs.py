"""Lambda's JSON log format, with the runtime's own formatter: every line a request writes
carries the invocation's requestId and the client's x-request-id, and no key, key hash or
input text; its EMF metrics line holds no secret either.

GIVEN awslambdaric's JsonFormatter on the root logger with the request id its bootstrap's
LambdaLoggerFilter adds (what the python3.13 runtime installs when the function's
LoggingConfig says LogFormat: JSON), every logger at DEBUG, and the app wired to moto's
DynamoDB and SQS,
WHEN requests go through the Lambda handler: served, a usage write that falls back to the
queue, a 429, a 401, and a key check DynamoDB fails (a 500 with a traceback),
THEN each log line of each invocation is JSON naming both ids, and no secret is in any of
them nor in the EMF lines.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import logging
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI

from handler.lambda_adapter import lambda_handler_for
from handler.metrics import EmfSink
from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import KeyStore, Limits
from handler.usage.service import UsageService
from tests.usage.usage_support import Faults, Tables

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
# The runtime client, unpacked alone into build/ by make (the Makefile's RUNTIME_CLIENT): not
# into the service venv, where its snapshot_restore_py would switch handler/snapstart.py's
# hooks on.
RUNTIME_CLIENT = REPO / "build" / "awslambdaric"
TEXT = "the amber walrus-58 sentence"
MakeApp = Callable[..., tuple[FastAPI, UsageService]]


class InvocationFilter(logging.Filter):
    """What awslambdaric's bootstrap.LambdaLoggerFilter does: the current invocation's id."""

    invoke_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.invoke_id
        return True


def runtime_json_formatter() -> logging.Formatter:
    """awslambdaric's JsonFormatter, loaded from its own file (the package's __init__ pulls
    in the runtime API client, which needs a Lambda)."""
    source = RUNTIME_CLIENT / "awslambdaric" / "lambda_runtime_log_utils.py"
    if not source.is_file():  # a functional test installs nothing: make does
        pytest.fail(f"no {source}: run `make test-unit` (or make {RUNTIME_CLIENT}/.installed)")
    spec = importlib.util.spec_from_file_location("lambda_runtime_log_utils", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    formatter: logging.Formatter = module.JsonFormatter()
    return formatter


@pytest.fixture
def runtime_logs() -> Iterator[tuple[io.StringIO, InvocationFilter]]:
    stream = io.StringIO()
    invocation = InvocationFilter()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(runtime_json_formatter())
    handler.addFilter(invocation)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream, invocation
    root.removeHandler(handler)
    root.setLevel(level)


def embeddings_event(secret: str, request_id: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "http-api-v2-embeddings.json").read_text())
    event["headers"]["authorization"] = f"Bearer {secret}"
    event["requestContext"]["requestId"] = request_id
    body = {"model": "all-MiniLM-L6-v2", "input": [TEXT], "user": "u-1"}
    event["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    event["isBase64Encoded"] = True
    return event


@pytest.mark.functional
def test_every_line_of_an_invocation_names_it_and_holds_no_secret(
    make_app: MakeApp,
    moto_tables: Tables,
    queue: SqsUsageQueue,
    runtime_logs: tuple[io.StringIO, InvocationFilter],
) -> None:
    stream, invocation = runtime_logs
    app, _ = make_app(moto_tables, queue, metrics_enabled=False)  # botocore kept at INFO
    secret, _ = KeyStore(moto_tables.client, moto_tables.keys).create("ops", Limits(rpm=2))
    stream.seek(0)
    stream.truncate()  # only the invocations' lines from here on
    emf = io.StringIO()
    app.state.metrics.sinks.append(EmfSink("Embeddings/test", emf))
    writes = Faults(moto_tables.client, "TransactWriteItems")
    reads = Faults(moto_tables.client, "GetItem")
    handler = lambda_handler_for(app)
    steps = [
        ("served", secret, lambda: None, 200),
        ("fallback", secret, lambda: writes.plan("timeout", "timeout", "timeout"), 200),
        ("limited", secret, lambda: None, 429),
        ("unknown key", secret[:-1] + "x", lambda: None, 401),
        ("key check fails", "sk-other-" + "z" * 40, lambda: reads.plan("500", "500", "500"), 500),
    ]
    windows = []
    try:
        for number, (name, key, arrange, status) in enumerate(steps):
            arrange()
            invoke_id = f"invoke-{number}"
            invocation.invoke_id = invoke_id  # as the runtime sets it per event
            start = stream.tell()
            response = handler(
                embeddings_event(key, f"apigw-{number}"), SimpleNamespace(aws_request_id=invoke_id)
            )
            assert response["statusCode"] == status, name
            windows.append((invoke_id, response["headers"]["x-request-id"], start))
    finally:
        handler.close()

    text = stream.getvalue()
    bounds = [start for _, _, start in windows[1:]] + [len(text)]
    for (invoke_id, request_id, start), end in zip(windows, bounds, strict=True):
        lines = [json.loads(line) for line in text[start:end].splitlines() if line]
        assert lines, invoke_id
        for line in lines:
            assert line["requestId"] == invoke_id, line
            assert line["xRequestId"] == request_id, line
    logged = [json.loads(line) for line in text.splitlines() if line]
    assert any("usage_fallback" in str(line["message"]) for line in logged)
    assert any(line.get("errorType") and line.get("stackTrace") for line in logged)

    metric_lines = [json.loads(line) for line in emf.getvalue().splitlines()]
    assert len(metric_lines) == len(windows)  # one per invocation; ids are in the lines above
    assert [m.get("statusCode", 200) for m in metric_lines] == [s for *_, s in steps]
    everything = text + emf.getvalue()
    hashed = hashlib.sha256(secret.encode()).hexdigest()
    for needle in (secret, secret[3:], hashed, TEXT, "walrus-58"):
        assert needle not in everything
    assert base64.b64encode(TEXT.encode()).decode()[:16] not in everything


# What CloudWatch Logs ingests per request on Lambda, as deployed (issue 19: at most 350
# bytes): the EMF line in the template's namespace for samconfig.toml's stack name, plus
# every line the app logs at ApplicationLogLevel WARN. SystemLogLevel WARN (PlatformLogLevel's
# default) keeps Lambda's START/END/REPORT lines out.
MAX_LOG_BYTES_PER_REQUEST = 350
SHORT_QUERY = {
    "input": "The food was delicious and the waiter was kind.",
    "model": "all-MiniLM-L6-v2",
}
STACK_NAME = tomllib.loads((REPO / "samconfig.toml").read_text())["default"]["global"][
    "parameters"
]["stack_name"]


@pytest.mark.functional
@pytest.mark.parametrize("limits", [Limits(), Limits(rpm=600, tpm=1_000_000, monthly_tokens=10**9)])
@pytest.mark.parametrize("fixture", ["http-api-v2-embeddings.json", "function-url-embeddings.json"])
def test_a_short_query_from_a_key_logs_at_most_350_bytes(
    make_app: MakeApp,
    moto_tables: Tables,
    queue: SqsUsageQueue,
    runtime_logs: tuple[io.StringIO, InvocationFilter],
    limits: Limits,
    fixture: str,
) -> None:
    stream, invocation = runtime_logs
    logging.getLogger().setLevel(logging.WARNING)  # ApplicationLogLevel: WARN
    app, _ = make_app(moto_tables, queue, metrics_enabled=False)
    secret, _ = KeyStore(moto_tables.client, moto_tables.keys).create("bytes", limits)
    emf = io.StringIO()
    app.state.metrics.sinks.append(EmfSink(f"ServerlessEmbeddings/{STACK_NAME}", emf))
    handler = lambda_handler_for(app)
    measured = []
    try:
        for _ in range(3):  # the first is the container's cold one
            event = json.loads((EVENTS / fixture).read_text())
            event["headers"]["authorization"] = f"Bearer {secret}"
            event["requestContext"]["requestId"] = str(uuid.uuid4())
            event["body"] = json.dumps(SHORT_QUERY)
            event["isBase64Encoded"] = False
            invocation.invoke_id = str(uuid.uuid4())
            logged, metrics = stream.tell(), emf.tell()
            response = handler(event, SimpleNamespace(aws_request_id=invocation.invoke_id))
            assert response["statusCode"] == 200, response
            lines = stream.getvalue()[logged:] + emf.getvalue()[metrics:]
            measured.append(len(lines.encode()))
    finally:
        handler.close()
    documents = [json.loads(line) for line in emf.getvalue().splitlines()]
    assert all(d["keyId"].startswith("key_") for d in documents)  # the key is named
    assert 10 <= documents[-1]["Tokens"] <= 16  # a short query: one sentence, as in issue 19
    warm = measured[1:]
    assert max(warm) <= MAX_LOG_BYTES_PER_REQUEST, (measured, emf.getvalue())
