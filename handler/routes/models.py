"""GET /v1/models and GET /v1/models/{id} in OpenAI's shapes.

Every name a model answers to is listed (its id, then its aliases), each as OpenAI's model
object plus what a client of this service may want to know before choosing: the id it is
served as, its width and window, and how it treats `input_type` (handler/embeddings/prompts.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from handler.embeddings.models import ModelEntry
from handler.embeddings.prompts import input_type_card
from handler.routes.common import api_key_id, services
from handler.routes.json import json_response

router = APIRouter(dependencies=[Depends(api_key_id)])
OWNER = "serverless-embeddings"


def model_object(name: str, model: ModelEntry) -> dict[str, Any]:
    manifest = model.manifest
    return {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": OWNER,
        "served_as": model.id,
        "dimensions": manifest.dimensions,
        "max_input_tokens": manifest.max_input_tokens,
        "input_type": input_type_card(manifest),
    }


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    models = services(request).models.models
    data = [model_object(name, model) for model in models for name in model.names]
    return json_response({"object": "list", "data": data})


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(request: Request) -> Response:
    # Read from path_params: a typed parameter makes FastAPI import pydantic.v1 (~15-45 ms of
    # cold start) to analyse it.
    model_id: str = request.path_params["model_id"]
    model = services(request).models.entry(model_id)  # 404 model_not_found if unknown
    return json_response(model_object(model_id, model))
