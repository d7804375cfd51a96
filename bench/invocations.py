"""Invoking the deployed Lambda handlers in process, and counting what each invocation did
(bench/meter.py's calls, stdout bytes, log bytes, wall time): the bill worker's plumbing."""

from __future__ import annotations

import base64
import gzip
import json
import sys
import threading
import time
from typing import Any

from bench import waits
from bench.events import LambdaContext, v2_embeddings_event
from bench.meter import CountingStream, LogBytes, Meter, summarise


class Counters:
    """The meter, stdout and the log handler, read together per step."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.stdout = CountingStream()
        self.logs = LogBytes()

    def clear(self) -> None:
        self.meter.take()
        self.stdout.take()
        self.logs.take()


def decoded_body(response: dict[str, Any]) -> bytes:
    """The body the client gets (base64 undone; still gzip when the response is)."""
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def response_json(response: dict[str, Any]) -> Any:
    raw = decoded_body(response)
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if headers.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    return json.loads(raw)


def v2_event(method: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The fixture's v2 event re-aimed at `method path`, carrying `body` base64-encoded."""
    event = v2_embeddings_event({}, headers)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    if not body:
        event["headers"].pop("content-type", None)
    return event


def invoke(
    fn: Any, event: dict[str, Any], counters: Counters, context: Any = None
) -> tuple[Any, float]:
    """One invocation with stdout counted; returns (response, wall ms)."""
    real, sys.stdout = sys.stdout, counters.stdout
    try:
        started = time.perf_counter()
        response = fn(event, context or LambdaContext())
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        sys.stdout = real
    return response, elapsed


def step(counters: Counters, totals: dict[str, Any], ms: float | None) -> None:
    """Add what the counters saw since the last step to `totals` (ms: one invocation)."""
    calls = counters.meter.take()
    totals.setdefault("calls", []).extend(calls)
    emf, emf_lines = counters.stdout.take()
    log_bytes, log_lines = counters.logs.take()
    totals["stdout_bytes"] = totals.get("stdout_bytes", 0) + emf
    totals["stdout_lines"] = totals.get("stdout_lines", 0) + emf_lines
    totals["log_bytes"] = totals.get("log_bytes", 0) + log_bytes
    totals["log_lines"] = totals.get("log_lines", 0) + log_lines
    if ms is not None:
        split = waits.split(calls, threading.get_ident())
        totals.setdefault("invocation_ms", []).append(round(ms, 3))
        totals.setdefault("invocation_ms_aws_typical", []).append(
            round(waits.aws_typical_ms(ms, split), 3)
        )
        totals.setdefault("own_ms", []).append(round(ms - sum(split["local"].values()), 3))
        totals.setdefault("waits_ms", []).append(
            {kind: {k: round(v, 3) for k, v in rows.items()} for kind, rows in split.items()}
        )


def finish(totals: dict[str, Any], units: int) -> dict[str, Any]:
    calls = totals.pop("calls", [])
    return {**totals, "units": units, **summarise(calls)}


def api_call(
    handler: Any, counters: Counters, totals: dict[str, Any], event: dict[str, Any]
) -> dict[str, Any]:
    response, ms = invoke(handler, event, counters)
    if response.get("statusCode") != 200:
        raise SystemExit(f"answered {response.get('statusCode')}: {response.get('body')}")
    step(counters, totals, ms)
    totals["api_requests"] = totals.get("api_requests", 0) + 1
    totals.setdefault("request_bytes", []).append(len(base64.b64decode(event["body"])))
    totals.setdefault("response_bytes", []).append(len(decoded_body(response)))
    return dict(response_json(response))
