"""/v1/files: OpenAI's Files API over the batch FileStore (S3 + DynamoDB).

A file belongs to the key that uploaded it; another key's file is a 404, as a missing one.
Uploads are parsed by python-multipart (through Starlette), which spools a part over 1 MB to
a temporary file, and boto3 sends that to S3 in parts: no file is held whole in memory.
The body is still bounded by MAX_BODY_BYTES (Lambda's 6 MB payload); bigger files come
through OpenAI's Uploads API (handler/routes/uploads.py). Content whose base64 form (as
Mangum sends it) is over BATCH_REDIRECT_BYTES is a redirect to a presigned S3 URL, since a
Lambda response is at most 6 MB.
"""

from __future__ import annotations

import math
from typing import IO, Any

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from handler import errors
from handler.batch.files import PURPOSE_BATCH, StoredFile
from handler.batch.objects import deleted_file, file_object, page
from handler.batch.service import BatchService
from handler.batch.table import owner_of
from handler.offload import off_loop
from handler.routes.common import api_key_id, authenticate
from handler.routes.ids import after_param, shown, well_formed
from handler.routes.json import json_response

MAX_FILENAME_CHARS = 256
MAX_PURPOSE_CHARS = 64
MAX_LIST_LIMIT = 10_000  # OpenAI's maximum and default for files.list


def lambda_body_bytes(size: int) -> int:
    """What `size` bytes of file content weigh in a Lambda response: Mangum sends an
    application/octet-stream body base64-encoded (4 characters per 3 bytes), and Lambda's
    6 MB limit counts those characters."""
    return 4 * math.ceil(size / 3)


def int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid(f"'{name}' must be an integer; got {raw!r}.", name) from None
    if not low <= value <= high:
        raise errors.invalid(f"'{name}' must be between {low} and {high}; got {value}.", name)
    return value


def purpose_param(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_PURPOSE_CHARS:
        raise errors.invalid(f"'purpose' is at most {MAX_PURPOSE_CHARS} characters.", "purpose")
    return raw


def order_param(raw: str | None) -> bool:
    """True for ascending; OpenAI's default order is desc."""
    if raw in (None, "", "desc"):
        return False
    if raw == "asc":
        return True
    raise errors.invalid(f"'order' must be 'asc' or 'desc'; got {raw!r}.", "order")


def _content_length(request: Request) -> int:
    raw = request.headers.get("content-length", "")
    return int(raw) if raw.isdigit() else 0


def check_storage(service: BatchService, owner: str, adding: int) -> None:
    """A 400 when `adding` bytes would take the key past BATCH_MAX_STORED_BYTES: its live
    files and the bytes its open uploads declared."""
    limit = service.settings.batch_max_stored_bytes
    stored = service.files.stored_bytes(owner)
    stored += sum(upload.bytes for upload in service.uploads.open_uploads(owner))
    if stored + adding > limit:
        raise errors.storage_limit_exceeded(stored, adding, limit)


def router(service: BatchService) -> APIRouter:
    files = service.files
    api = APIRouter()

    def store(owner: str, upload: IO[bytes], filename: str, purpose: str) -> dict[str, Any]:
        return file_object(files.upload(owner, upload, filename, purpose))

    @api.post("/v1/files")
    async def create_file(request: Request) -> Response:
        owner = owner_of(await api_key_id(request))  # before reading the body
        declared = _content_length(request)  # the file within is smaller
        await off_loop(request, check_storage, service, owner, declared)
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise errors.not_multipart(content_type)
        form = await request.form(max_files=1, max_fields=8)
        try:
            upload, purpose = form.get("file"), form.get("purpose")
            if not isinstance(upload, UploadFile):
                raise errors.missing_parameter("file")
            if purpose is None or purpose == "":
                raise errors.missing_parameter("purpose")
            if purpose != PURPOSE_BATCH:
                raise errors.invalid(
                    f"Invalid purpose {str(purpose)[:64]!r}: this service accepts only "
                    f"'{PURPOSE_BATCH}' files.",
                    "purpose",
                )
            filename = (upload.filename or "upload.jsonl")[:MAX_FILENAME_CHARS]
            body = await off_loop(request, store, owner, upload.file, filename, purpose)
        finally:
            await form.close()
        return json_response(body)

    def listed(request: Request) -> dict[str, Any]:
        owner = owner_of(authenticate(request))
        query = request.query_params
        limit = int_param(query.get("limit"), "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        ascending = order_param(query.get("order"))
        found, more = files.page(
            owner,
            limit,
            after_param(query.get("after")),
            purpose_param(query.get("purpose")),
            ascending,
        )
        return page([file_object(f) for f in found], more)

    @api.get("/v1/files")
    async def list_files(request: Request) -> Response:
        return json_response(await off_loop(request, listed, request))

    def owned_file(request: Request, file_id: str) -> StoredFile:
        owner = owner_of(authenticate(request))
        stored = files.get(owner, file_id) if well_formed(file_id) else None
        if stored is None:
            raise errors.file_not_found(shown(file_id))
        return stored

    def retrieved(request: Request, file_id: str) -> dict[str, Any]:
        return file_object(owned_file(request, file_id))

    @api.get("/v1/files/{file_id}")
    async def retrieve_file(request: Request, file_id: str) -> Response:
        return json_response(await off_loop(request, retrieved, request, file_id))

    def deleted(request: Request, file_id: str) -> dict[str, Any]:
        if not files.delete(owned_file(request, file_id).owner, file_id):
            raise errors.file_not_found(file_id)
        return deleted_file(file_id)

    @api.delete("/v1/files/{file_id}")
    async def delete_file(request: Request, file_id: str) -> Response:
        return json_response(await off_loop(request, deleted, request, file_id))

    @api.get("/v1/files/{file_id}/content")
    async def file_content(request: Request, file_id: str) -> Response:
        stored = await off_loop(request, owned_file, request, file_id)
        settings = service.settings
        if 0 < settings.batch_redirect_bytes < lambda_body_bytes(stored.bytes):
            # Over one Lambda response: the client fetches it from S3. httpx (openai-python)
            # and fetch (openai-node) follow a 307 and drop Authorization for S3's origin.
            url = files.download_url(stored, settings.batch_presign_seconds)
            return RedirectResponse(url, status_code=307, headers={"cache-control": "no-store"})
        return StreamingResponse(
            files.content(stored),
            media_type="application/octet-stream",
            headers={"content-length": str(stored.bytes)},
        )

    return api
