"""The OpenAPI document served at /openapi.json, built on its first request, never at cold start.

POST /v1/embeddings reads its body itself (one thread switch, OpenAI's error messages), so
FastAPI cannot see the body's model; the document takes the request and response schemas
from the pydantic models in handler/embedding_request.py and handler/response_models.py.
Declaring them on the route (`responses={200: {"model": ...}}`) would build FastAPI response
fields at import: ~25 ms of cold start for a document few clients read.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from handler.deferred import expanded
from handler.embedding_request import CreateEmbeddingRequest

REF = "#/components/schemas/{model}"
EMBEDDINGS_PATH = "/v1/embeddings"


def _json_body(name: str, description: str) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=name)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's routes as FastAPI sees them, plus the embeddings body schemas and bearer auth."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    # Here, not at import: the response models are only the document's (response_models.py).
    from handler.response_models import CreateEmbeddingResponse, ErrorResponse

    routes = expanded(app.routes)  # the deferred Batch API routes are in the document too
    document = get_openapi(title=app.title, version=app.version, routes=routes)
    _, definitions = models_json_schema(
        [
            (CreateEmbeddingRequest, "validation"),
            (CreateEmbeddingResponse, "serialization"),
            (ErrorResponse, "serialization"),
        ],
        ref_template=REF,
    )
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(definitions["$defs"])
    components["securitySchemes"] = {"ApiKeyAuth": {"type": "http", "scheme": "bearer"}}
    document["security"] = [{"ApiKeyAuth": []}]
    operation = document["paths"][EMBEDDINGS_PATH]["post"]
    operation["operationId"] = "createEmbedding"
    operation["requestBody"] = {"required": True, **_json_body("CreateEmbeddingRequest", "")}
    del operation["requestBody"]["description"]
    operation["responses"] = {
        "200": _json_body("CreateEmbeddingResponse", "The embeddings, in input order"),
        "default": _json_body("ErrorResponse", "OpenAI's error envelope"),
    }
    app.openapi_schema = document
    return document


def install_openapi(app: FastAPI) -> None:
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
