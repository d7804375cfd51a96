"""/v1/batches: OpenAI's Batch API for the /v1/embeddings endpoint.

Creating a batch checks the request and the input file, stores the batch as `validating` and
queues its plan; the workers (handler/batch/worker.py) do the rest. A batch belongs to the
key that created it; another key's batch is a 404.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from handler import errors
from handler.batch import batches as b
from handler.batch.files import PURPOSE_BATCH
from handler.batch.objects import batch_object, page
from handler.batch.service import BatchService
from handler.batch.table import owner_of
from handler.offload import off_loop
from handler.routes.common import api_key_id, authenticate, caller_of, services
from handler.routes.files import int_param
from handler.routes.ids import after_param, shown, well_formed
from handler.routes.json import json_object, json_response

ENDPOINTS = ("/v1/embeddings",)
# OpenAI's metadata limits: 16 pairs, keys up to 64 characters, values up to 512.
MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512
MAX_ID_CHARS = 128
# OpenAI's output_expires_after: anchored at the result file's creation, 1 hour to 30 days.
EXPIRES_ANCHORS = ("created_at",)
MIN_EXPIRES_SECONDS, MAX_EXPIRES_SECONDS = 3600, 2_592_000


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise errors.missing_parameter(name)
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS:
        raise errors.invalid_field(f"$.{name}", name)
    return value


def _metadata(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or len(raw) > MAX_METADATA_PAIRS
        or not all(
            isinstance(k, str)
            and isinstance(v, str)
            and len(k) <= MAX_METADATA_KEY
            and len(v) <= MAX_METADATA_VALUE
            for k, v in raw.items()
        )
    ):
        raise errors.invalid(
            f"'metadata' must be an object of at most {MAX_METADATA_PAIRS} string pairs, keys "
            f"up to {MAX_METADATA_KEY} characters and values up to {MAX_METADATA_VALUE}.",
            "metadata",
        )
    return raw


def _expires_after(raw: Any) -> int | None:
    """The seconds of `output_expires_after` (None when not given); a 400 naming the
    field for anything but {"anchor": "created_at", "seconds": 3600..2592000}."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"anchor", "seconds"}:
        raise errors.invalid(
            "'output_expires_after' must be an object with 'anchor' and 'seconds'.",
            "output_expires_after",
        )
    if raw.get("anchor") not in EXPIRES_ANCHORS:
        raise errors.invalid(
            "Invalid 'output_expires_after.anchor': the only supported value is 'created_at'.",
            "output_expires_after.anchor",
        )
    seconds = raw.get("seconds")
    if (
        not isinstance(seconds, int)
        or isinstance(seconds, bool)
        or not MIN_EXPIRES_SECONDS <= seconds <= MAX_EXPIRES_SECONDS
    ):
        raise errors.invalid(
            f"Invalid 'output_expires_after.seconds': it must be an integer between "
            f"{MIN_EXPIRES_SECONDS} and {MAX_EXPIRES_SECONDS}.",
            "output_expires_after.seconds",
        )
    return seconds


def parse_create(raw: bytes) -> tuple[str, str, str, dict[str, str] | None, int | None]:
    """(input_file_id, endpoint, completion_window, metadata, output expiry in seconds)."""
    body = json_object(raw)
    input_file_id = _string(body, "input_file_id")
    endpoint = _string(body, "endpoint")
    if endpoint not in ENDPOINTS:
        raise errors.invalid(
            f"Invalid endpoint {endpoint!r}: this service batches only {', '.join(ENDPOINTS)}.",
            "endpoint",
        )
    window = _string(body, "completion_window")
    if window not in b.WINDOW_SECONDS:
        raise errors.invalid(
            f"Invalid completion_window {window!r}: the only supported value is '24h'.",
            "completion_window",
        )
    expires = _expires_after(body.get("output_expires_after"))
    return input_file_id, endpoint, window, _metadata(body.get("metadata")), expires


def router(service: BatchService) -> APIRouter:
    api = APIRouter()
    store = service.batches

    def created(request: Request, owner: str, raw: bytes) -> dict[str, Any]:
        input_file_id, endpoint, window, metadata, expires_after = parse_create(raw)
        services(request).meter.budget_left(caller_of(request))  # a spent monthly budget: no batch
        # Each batch makes the workers read its whole input file again: cap those in flight.
        if store.in_flight(owner, time.time()) >= service.settings.batch_max_in_flight:
            raise errors.too_many_batches_in_flight(service.settings.batch_max_in_flight)
        source = service.files.get(owner, input_file_id) if well_formed(input_file_id) else None
        if source is None:
            raise errors.file_not_found(shown(input_file_id), "input_file_id")
        if source.purpose != PURPOSE_BATCH:
            raise errors.invalid(
                f"File {input_file_id} has purpose '{source.purpose}', not 'batch'.",
                "input_file_id",
            )
        key_hash = caller_of(request).key_hash  # the worker's key check
        item = store.create(
            owner, input_file_id, endpoint, window, metadata, key_hash, expires_after
        )
        service.send({"kind": "plan", "batch_id": item["id"]})
        return batch_object(item)

    @api.post("/v1/batches")
    async def create_batch(request: Request) -> Response:
        owner = owner_of(await api_key_id(request))  # before reading the body
        raw = await request.body()
        return json_response(await off_loop(request, created, request, owner, raw))

    def owned(request: Request, batch_id: str) -> dict[str, Any]:
        owner = owner_of(authenticate(request))
        item = store.get(batch_id, owner) if well_formed(batch_id) else None
        if item is None:
            raise errors.batch_not_found(shown(batch_id))
        return item

    @api.get("/v1/batches/{batch_id}")
    async def retrieve_batch(request: Request, batch_id: str) -> Response:
        item = await off_loop(request, owned, request, batch_id)
        return json_response(batch_object(item))

    def listed(request: Request) -> dict[str, Any]:
        owner = owner_of(authenticate(request))
        query = request.query_params
        limit = int_param(query.get("limit"), "limit", 20, 1, 100)  # OpenAI's default and max
        items, more = store.page(owner, limit, after_param(query.get("after")))
        return page([batch_object(item) for item in items], more)

    @api.get("/v1/batches")
    async def list_batches(request: Request) -> Response:
        return json_response(await off_loop(request, listed, request))

    def cancelled(request: Request, batch_id: str) -> dict[str, Any]:
        item = owned(request, batch_id)
        if item["status"] in (b.CANCELLING, b.CANCELLED):
            return batch_object(item)  # cancelling twice is not an error
        if not store.transition(batch_id, (b.VALIDATING, b.IN_PROGRESS), b.CANCELLING):
            item = owned(request, batch_id)
            raise errors.batch_not_cancellable(batch_id, item["status"])
        # A batch not yet planned has no shard to finish it: the plan message finds it
        # cancelling and cancels it; one in progress is cancelled by its last shard.
        return batch_object(owned(request, batch_id))

    @api.post("/v1/batches/{batch_id}/cancel")
    async def cancel_batch(request: Request, batch_id: str) -> Response:
        return json_response(await off_loop(request, cancelled, request, batch_id))

    return api
