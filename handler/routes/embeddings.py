"""POST /v1/embeddings: validate, tokenize, check limits, run, serialise, record usage.

A request is charged against its quotas only once it is known to fit (check_fits), and the
charge is given back if anything fails before its embeddings are ready.

Everything after reading the body blocks (the key check, the quota update and the usage write
are DynamoDB round trips; tokenizing and the model are compute), so under uvicorn it runs as
one piece on a worker thread (handler/offload.py): the event loop stays free for other
requests, at one thread switch each. The usage write still ends before the response is
returned, so it is durable even when Lambda freezes the process right after.
"""

from __future__ import annotations

import threading
import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from handler.embedder import InputError, truncate_dimensions
from handler.embedding_checks import (
    checked_dimensions,
    checked_encoding,
    tokenized_within_limits,
)
from handler.embedding_request import check_content_type, parse_embedding_request
from handler.embedding_response import check_fits, embeddings_body, fit_response
from handler.errors import APIError, refused_tokens
from handler.metrics import RequestMetrics
from handler.offload import off_loop
from handler.routes.common import api_key_id, services
from handler.usage.records import ANONYMOUS, UsageRecord

router = APIRouter()
TRUNCATED_HEADER = "x-truncated-inputs"
POOLED_HEADER = "x-pooled-inputs"  # inputs embedded as more than one window (LONG_INPUTS=pool)
# One model run at a time: the session's intra-op threads already use every core, so runs from
# concurrent request threads only preempt each other (p99 under load doubled without it).
# DynamoDB calls stay concurrent: they happen outside it.
MODEL_LOCK = threading.Lock()


# A plain Request, no typed parameters: FastAPI imports pydantic.v1 to analyse a typed one,
# which costs the cold start tens of milliseconds.
@router.post("/v1/embeddings")
async def create_embeddings(request: Request) -> Response:
    # The key first, before the body is read: an unknown key does not get 6 MB read for it.
    # Its request is counted with its tokens (the limiter), or here if it ends before.
    key_id = await api_key_id(request)
    try:
        raw = await request.body()
        return await off_loop(request, embed_request, request, key_id, raw)
    except BaseException:  # ended before its tokens were charged: still a request (RPM)
        await off_loop(request, services(request).meter.settle, request)
        raise


def embed_request(request: Request, key_id: str | None, raw: bytes) -> Response:
    """The whole request after its body is read; blocking, so off the event loop."""
    measured: RequestMetrics = request.state.metrics
    measured.key_id = key_id
    wired = services(request)
    settings, embedder = wired.settings, wired.embedder
    check_content_type(request.headers.get("content-type", ""))
    body = parse_embedding_request(raw, settings.max_inputs)
    served_model = wired.resolve_model(body.model)
    dimensions = checked_dimensions(body.dimensions, embedder, served_model)
    calibration = checked_encoding(body.encoding_format, dimensions, body.dimensions, embedder)
    wired.meter.before_tokenizing(request)  # a key past its TPM makes us tokenize nothing
    try:
        tokenized, prompt_tokens = tokenized_within_limits(body.inputs, embedder, settings)
    except (APIError, InputError) as refused:  # tokenized, then refused: still metered
        wired.meter.refused(request, refused_tokens(refused))
        raise
    accept_encoding = request.headers.get("accept-encoding", "")
    check_fits(  # a response that cannot fit is refused before any quota is charged
        len(body.inputs),
        dimensions,
        served_model,
        prompt_tokens,
        body.encoding_format,
        accept_encoding,
        settings.max_response_bytes,
    )
    refund = wired.limiter(request, prompt_tokens)  # quotas: a rejected request is not run
    try:
        with MODEL_LOCK:
            model_started = time.perf_counter()
            vectors = truncate_dimensions(embedder.run(tokenized), dimensions)
            measured.model_ms = round((time.perf_counter() - model_started) * 1000, 3)
        measured.inputs, measured.tokens = len(body.inputs), prompt_tokens
        payload = embeddings_body(
            vectors, served_model, prompt_tokens, body.encoding_format, calibration
        )
        content, headers = fit_response(
            payload, accept_encoding, settings.max_response_bytes, body.encoding_format
        )
    except BaseException:
        if refund is not None:  # no embeddings: no charge
            refund()
        raise
    if settings.long_input_mode == "truncate":
        headers[TRUNCATED_HEADER] = str(tokenized.truncated)
    elif settings.long_input_mode == "pool":
        headers[POOLED_HEADER] = str(tokenized.pooled)

    measured.usage_outcome = wired.recorder.record(
        UsageRecord(
            request_id=request.state.request_id,
            key_id=key_id or ANONYMOUS,
            model=served_model,
            requested_model=body.model,
            prompt_tokens=prompt_tokens,
            total_tokens=prompt_tokens,
            inputs=len(body.inputs),
            dimensions=dimensions,
            encoding_format=body.encoding_format,
            user=body.user,
            truncated_inputs=tokenized.truncated,
            pooled_inputs=tokenized.pooled,
            latency_ms=round((time.perf_counter() - request.state.started) * 1000, 3),
            timestamp=time.time(),
        )
    )
    return Response(content, media_type="application/json", headers=headers)
