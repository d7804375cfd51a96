"""JSON bodies in and out through orjson (FastAPI's default encoder walks every value in
Python)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from handler import errors


def json_response(content: Any) -> Response:
    """A 200; error statuses are decided in handler/errors.py alone."""
    return Response(orjson.dumps(content), media_type="application/json")


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object; OpenAI's 400 otherwise."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.malformed_json() from None
    if not isinstance(body, dict):
        raise errors.invalid("The request body must be a JSON object.")
    return body
