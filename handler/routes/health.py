"""GET /health: which version, model and artifact this container serves, and whether it is
cold."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from handler.routes.common import services
from handler.routes.json import json_response
from handler.version import VERSION

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> Response:
    embedder = services(request).embedder
    return json_response(
        {
            "status": "ok",
            "version": VERSION,
            "model": embedder.model_id,
            "artifact_sha": embedder.artifact_sha,
            "dimensions": embedder.dimensions,
            "max_input_tokens": embedder.max_input_tokens,
            # the build's gate found a text's vector independent of its batch-mates and threads
            "batch_invariant": embedder.batch_invariant,
            "cold": bool(request.state.cold),  # first request this container has served
        }
    )
