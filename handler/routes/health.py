"""GET /health: which version, models and artifacts this container serves, and whether it is
cold.

The top-level fields describe the default model (what one-model deployments always showed);
`models` lists every served model, with whether it is loaded yet (handler/embeddings/models.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from handler.embeddings.models import ModelEntry, ServedModels
from handler.routes.common import services
from handler.routes.json import json_response
from handler.version import VERSION

router = APIRouter()


def model_health(models: ServedModels, model: ModelEntry) -> dict[str, Any]:
    manifest = model.manifest
    invariance = manifest.extra.get("invariance") or {}
    return {
        "model": model.id,
        "artifact_sha": manifest.artifact_sha,
        "dimensions": manifest.dimensions,
        "max_input_tokens": manifest.max_input_tokens,
        # the build's gate found a text's vector independent of its batch-mates and threads
        "batch_invariant": bool(invariance.get("batch_invariant", False)),
        "loaded": models.is_loaded(model.id),
    }


@router.get("/health")
async def health(request: Request) -> Response:
    models = services(request).models
    default = model_health(models, models.default)
    del default["loaded"]  # the default model is always loaded
    return json_response(
        {
            "status": "ok",
            "version": VERSION,
            **default,
            "cold": bool(request.state.cold),  # first request this container has served
            "models": [model_health(models, model) for model in models.models],
        }
    )
