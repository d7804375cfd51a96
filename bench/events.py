"""API Gateway HTTP API (v2) events for the Mangum handler, built on the repo's own fixture."""

from __future__ import annotations

import base64
import copy
import json
import os
import uuid
from functools import cache
from typing import Any

from bench.config import REPO

EVENTS = REPO / "events"
MODEL = "all-MiniLM-L6-v2"  # the default artifact's id, what every bench request names
SHORT_TEXT = "The food was delicious and the waiter was friendly."  # the single-input request


@cache
def _v2_template() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "http-api-v2-embeddings.json").read_text())
    return event


def bench_key_headers() -> dict[str, str] | None:
    """The bench key's Authorization header (BENCH_API_KEY, bench/dynamo.py), if it has one."""
    key = os.environ.get("BENCH_API_KEY", "")
    return {"authorization": f"Bearer {key}"} if key else None


def v2_embeddings_event(
    body: dict[str, Any], headers: dict[str, str] | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """The fixture's v2 event carrying `body` (base64-encoded when the fixture's body is, as
    `sam local generate-event` writes it), extra headers merged in, and a fresh request id."""
    event = copy.deepcopy(_v2_template())
    raw = json.dumps(body)
    if event.get("isBase64Encoded"):
        event["body"] = base64.b64encode(raw.encode()).decode()
    else:
        event["body"] = raw
    merged = {k.lower(): v for k, v in event.get("headers", {}).items()}
    merged.pop("authorization", None)  # callers that want auth pass their own key
    merged["content-type"] = "application/json"
    merged.pop("content-length", None)
    merged.update({k.lower(): v for k, v in (headers or {}).items()})
    event["headers"] = merged
    event["requestContext"]["requestId"] = request_id or uuid.uuid4().hex
    return event


class LambdaContext:
    """The attributes Mangum and our handler may read from the Lambda context."""

    function_name: str = "bench"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    memory_limit_in_mb: int = 2048
    aws_request_id: str = "bench-request"
    log_group_name: str = "/aws/lambda/bench"
    log_stream_name: str = "bench"
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
