"""Lambda's JSON log format, with the runtime's own formatter: every line a request writes
carries the invocation's requestId and the client's x-request-id, and no key, key hash or
input text; so does its EMF metrics line.

GIVEN awslambdaric's JsonFormatter on the root logger with the request id its bootstrap's
LambdaLoggerFilter adds (what the python3.13 runtime installs when the function's
LoggingConfig says LogFormat: JSON), every logger at DEBUG, and the app wired to moto's
DynamoDB and SQS,
WHEN requests go through the Lambda handler: served, a usage write that falls back to the
queue, a 429, a 401, and a key check DynamoDB fails (a 500 with a traceback),
THEN each line of each invocation is JSON naming both ids, and no secret is in any of them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from usage_support import Faults, Tables

from handler.lambda_adapter import lambda_handler_for
from handler.metrics import EmfSink
from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import KeyStore, Limits
from handler.usage.service import UsageService

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
# The runtime client, unpacked alone into build/ on first use: not into the service venv,
# where its snapshot_restore_py would switch handler/snapstart.py's hooks on.
RUNTIME_CLIENT = REPO / "build" / "awslambdaric"
RUNTIME_CLIENT_VERSION = "4.2.2"  # as layers/requirements-lambda-runtime.txt
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
    if not source.is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
             str(RUNTIME_CLIENT), f"awslambdaric=={RUNTIME_CLIENT_VERSION}"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
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
    assert [(m["requestId"], m["xRequestId"]) for m in metric_lines] == [
        (invoke_id, request_id) for invoke_id, request_id, _ in windows
    ]
    everything = text + emf.getvalue()
    hashed = hashlib.sha256(secret.encode()).hexdigest()
    for needle in (secret, secret[3:], hashed, TEXT, "walrus-58"):
        assert needle not in everything
    assert base64.b64encode(TEXT.encode()).decode()[:16] not in everything
