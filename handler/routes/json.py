"""JSON responses through orjson (FastAPI's default encoder walks every value in Python)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def json_response(content: Any) -> Response:
    """A 200; error statuses are decided in handler/errors.py alone."""
    return Response(orjson.dumps(content), media_type="application/json")
