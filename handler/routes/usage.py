"""GET /v1/usage: the caller's own daily usage, from the wired UsageReport (handler/usage)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from handler.offload import off_loop
from handler.routes.common import authenticate, services
from handler.routes.json import json_response

router = APIRouter()


def _report(request: Request, query: list[tuple[str, str]]) -> dict[str, Any]:
    report = services(request).usage_report
    assert report is not None  # create_app serves this router only with a report wired
    return report(authenticate(request), query)


# Plain Request, no typed query parameters: analysing those makes FastAPI import pydantic.v1,
# tens of milliseconds of cold start. The key check and the read share one trip off the event
# loop (as in the embeddings route); the report validates the parameters itself.
@router.get("/v1/usage")
async def get_usage(request: Request) -> Response:
    query = request.query_params.multi_items()
    return json_response(await off_loop(request, _report, request, query))
