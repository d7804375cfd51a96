"""POST /v1/embeddings: the embeddings pipeline (handler/embeddings/) behind HTTP.

A request is charged against its quotas only once it is known to fit (check_fits), and the
charge is given back if anything fails before its embeddings are ready.

Everything after reading the body blocks (the key check, the quota update and the usage write
are DynamoDB round trips; tokenizing and the model are compute), so under uvicorn it runs as
one piece on a worker thread (handler/offload.py): the event loop stays free for other
requests, at one thread switch each. The usage write still ends before the response is
returned, so it is durable even when Lambda freezes the process right after.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from handler.embedding_request import check_content_type, parse_embedding_request
from handler.embedding_response import fit_response
from handler.embeddings import pipeline
from handler.hooks import Caller, Meter
from handler.metrics import RequestMetrics
from handler.offload import off_loop
from handler.records import ANONYMOUS
from handler.routes.common import api_key_id, caller_of, services

router = APIRouter()
TRUNCATED_HEADER = "x-truncated-inputs"
POOLED_HEADER = "x-pooled-inputs"  # inputs embedded as more than one window (LONG_INPUTS=pool)


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
        await off_loop(request, services(request).meter.settle, caller_of(request))
        raise


class _MeterGate:
    """The pipeline's Gate for this request: the wired meter, for this request's key."""

    def __init__(self, meter: Meter, caller: Caller) -> None:
        self.meter, self.caller = meter, caller

    def before_tokenizing(self) -> None:
        self.meter.before_tokenizing(self.caller)

    def refused(self, tokens: int) -> None:
        self.meter.refused(self.caller, tokens)


def embed_request(request: Request, key_id: str | None, raw: bytes) -> Response:
    """The whole request after its body is read; blocking, so off the event loop."""
    measured: RequestMetrics = request.state.metrics
    measured.key_id = key_id
    wired = services(request)
    settings = wired.settings
    caller = caller_of(request)  # authenticated already: the Caller api_key_id found
    check_content_type(request.headers.get("content-type", ""))
    body = parse_embedding_request(raw, settings.max_inputs)
    accept_encoding = request.headers.get("accept-encoding", "")
    prepared = pipeline.prepare(
        body, wired.models, settings, accept_encoding, _MeterGate(wired.meter, caller)
    )
    measured.model = prepared.model.id
    refund = wired.limiter(caller, prepared.prompt_tokens)  # quotas: a refused one is not run
    try:
        # One run per model at a time; DynamoDB calls stay concurrent (they happen outside).
        with wired.models.run_lock(prepared.model.id):
            model_started = time.perf_counter()
            vectors = pipeline.run(prepared)
            measured.model_ms = round((time.perf_counter() - model_started) * 1000, 3)
        measured.inputs, measured.tokens = prepared.inputs, prepared.prompt_tokens
        content, headers = fit_response(
            pipeline.encode(prepared, vectors),
            accept_encoding,
            settings.max_response_bytes,
            compressible=body.encoding_format == "float",
        )
    except BaseException:
        if refund is not None:  # no embeddings: no charge
            refund()
        raise
    tokenized = prepared.tokenized
    if settings.long_input_mode == "truncate":
        headers[TRUNCATED_HEADER] = str(tokenized.truncated)
    elif settings.long_input_mode == "pool":
        headers[POOLED_HEADER] = str(tokenized.pooled)
    latency_ms = (time.perf_counter() - request.state.started) * 1000
    record = pipeline.usage_record(
        prepared, request.state.request_id, key_id or ANONYMOUS, latency_ms, time.time()
    )
    measured.usage_outcome = wired.recorder.record(record)
    return Response(content, media_type="application/json", headers=headers)
