"""GET /v1/models and GET /v1/models/{id} in OpenAI's shapes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from handler.encodings import Int8Calibration, described
from handler.routes.common import api_key_id, services
from handler.routes.json import json_response

router = APIRouter(dependencies=[Depends(api_key_id)])
OWNER = "serverless-embeddings"


def model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": OWNER}


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    names = services(request).model_names
    return json_response({"object": "list", "data": [model_object(name) for name in names]})


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(request: Request) -> Response:
    # Read from path_params: a typed parameter makes FastAPI import pydantic.v1 (~15-45 ms of
    # cold start) to analyse it.
    model_id: str = request.path_params["model_id"]
    embedder = services(request).resolve_model(model_id).embedder  # 404 model_not_found
    calibration = Int8Calibration.from_manifest(embedder.manifest.extra, embedder.dimensions)
    return json_response({**model_object(model_id), "encodings": described(calibration)})
