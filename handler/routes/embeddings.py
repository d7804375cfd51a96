"""POST /v1/embeddings: validate, tokenize, check limits, run, serialise, record usage."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from handler.embedder import truncate_dimensions
from handler.embedding_request import check_content_type, parse_embedding_request
from handler.embedding_response import embeddings_body, fit_response
from handler.errors import invalid
from handler.hooks import UsageRecord
from handler.routes.common import api_key_id, services

router = APIRouter()
TRUNCATED_HEADER = "x-truncated-inputs"


# The key comes through request.state, not a typed parameter: FastAPI imports pydantic.v1 to
# analyse a typed one, which costs the cold start tens of milliseconds.
@router.post("/v1/embeddings", dependencies=[Depends(api_key_id)])
async def create_embeddings(request: Request) -> Response:
    key_id: str | None = request.state.api_key_id
    wired = services(request)
    settings, embedder = wired.settings, wired.embedder
    check_content_type(request.headers.get("content-type", ""))
    body = parse_embedding_request(await request.body(), settings.max_inputs)
    served_model = wired.resolve_model(body.model)
    dimensions = body.dimensions if body.dimensions is not None else embedder.dimensions
    if not 1 <= dimensions <= embedder.dimensions:
        raise invalid(
            f"dimensions must be between 1 and {embedder.dimensions} for model "
            f"{served_model}; got {dimensions}.",
            "dimensions",
        )

    tokenized = embedder.tokenize(body.inputs, truncate=settings.truncate_inputs)
    prompt_tokens = sum(tokenized.token_counts)
    if prompt_tokens > settings.max_request_tokens:
        raise invalid(
            f"Requested {prompt_tokens} tokens, max {settings.max_request_tokens} tokens "
            "per request",
            "input",
            "max_tokens_per_request",
        )
    await wired.limiter(request, prompt_tokens)  # quotas: a rejected request is not run
    vectors = truncate_dimensions(embedder.run(tokenized), dimensions)

    payload = embeddings_body(vectors, served_model, prompt_tokens, body.encoding_format)
    content, headers = fit_response(
        payload,
        request.headers.get("accept-encoding", ""),
        settings.max_response_bytes,
        compressible=body.encoding_format == "float",
    )
    if settings.truncate_inputs:
        headers[TRUNCATED_HEADER] = str(tokenized.truncated)

    wired.recorder.record(
        UsageRecord(
            request_id=request.state.request_id,
            api_key_id=key_id,
            model=served_model,
            requested_model=body.model,
            prompt_tokens=prompt_tokens,
            input_count=len(body.inputs),
            dimensions=dimensions,
            encoding_format=body.encoding_format,
            user=body.user,
            truncated_inputs=tokenized.truncated,
            latency_ms=round((time.perf_counter() - request.state.started) * 1000, 3),
        )
    )
    return Response(content, media_type="application/json", headers=headers)
