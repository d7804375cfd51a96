"""/v1/uploads: OpenAI's Uploads API, for batch input files bigger than one request body.

Create an Upload declaring its bytes, add parts (each a multipart `data` body under
MAX_BODY_BYTES), then complete it with the part ids in order: the parts become one File
(handler/batch/uploads.py) that batches.create accepts. An upload belongs to the key that
created it; another key's upload is a 404, as a missing one.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from handler import errors
from handler.batch.files import PURPOSE_BATCH
from handler.batch.objects import file_object
from handler.batch.service import BatchService
from handler.batch.table import owner_of
from handler.batch.uploads import (
    CANCELLED,
    COMPLETED,
    PENDING,
    PartRefused,
    Upload,
    completion_digest,
    part_object,
    upload_object,
)
from handler.offload import off_loop
from handler.routes.common import api_key_id, authenticate
from handler.routes.files import MAX_FILENAME_CHARS, check_storage
from handler.routes.ids import shown, well_formed
from handler.routes.json import json_object, json_response

log = logging.getLogger(__name__)
MAX_MIME_CHARS = 255
MAX_PART_ID_CHARS = 64
MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")
# OpenAI's bounds for expires_after.seconds (accepted, not applied: see docs/batch.md).
EXPIRES_AFTER_SECONDS = (3600, 2_592_000)


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise errors.missing_parameter(name)
    if not isinstance(value, str) or len(value) > limit:
        raise errors.invalid(f"'{name}' must be a string of at most {limit} characters.", name)
    return value


def parse_create(raw: bytes, max_bytes: int) -> tuple[int, str, str, str]:
    """(bytes, filename, purpose, mime_type) from a create request's JSON body."""
    body = json_object(raw)
    size = body.get("bytes")
    if size is None:
        raise errors.missing_parameter("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise errors.invalid("'bytes' must be a positive integer.", "bytes")
    if size > max_bytes:
        raise errors.upload_too_large(size, max_bytes)
    filename = _text(body, "filename", MAX_FILENAME_CHARS)
    purpose = _text(body, "purpose", 64)
    if purpose != PURPOSE_BATCH:
        raise errors.invalid(
            f"Invalid purpose {purpose!r}: this service accepts only '{PURPOSE_BATCH}' uploads.",
            "purpose",
        )
    mime_type = _text(body, "mime_type", MAX_MIME_CHARS)
    expires = body.get("expires_after")
    low, high = EXPIRES_AFTER_SECONDS
    if expires is not None and not (
        isinstance(expires, dict)
        and expires.get("anchor") == "created_at"
        and isinstance(expires.get("seconds"), int)
        and low <= expires["seconds"] <= high
        and set(expires) == {"anchor", "seconds"}
    ):
        raise errors.invalid(
            f"'expires_after' must be {{'anchor': 'created_at', 'seconds': {low}..{high}}}.",
            "expires_after",
        )
    return size, filename, purpose, mime_type


def parse_complete(raw: bytes, max_parts: int) -> tuple[list[str], str | None]:
    """(part_ids, md5) from a complete request's JSON body."""
    body = json_object(raw)
    part_ids = body.get("part_ids")
    if part_ids is None:
        raise errors.missing_parameter("part_ids")
    if (
        not isinstance(part_ids, list)
        or not 1 <= len(part_ids) <= max_parts
        or not all(isinstance(p, str) and 0 < len(p) <= MAX_PART_ID_CHARS for p in part_ids)
    ):
        raise errors.invalid(f"'part_ids' must be a list of 1 to {max_parts} part ids.", "part_ids")
    if len(set(part_ids)) != len(part_ids):
        raise errors.invalid("'part_ids' names a part more than once.", "part_ids")
    md5 = body.get("md5")
    if md5 is not None and (not isinstance(md5, str) or not MD5_HEX.fullmatch(md5)):
        raise errors.invalid("'md5' must be 32 hexadecimal digits.", "md5")
    return part_ids, md5.lower() if md5 else None


def router(service: BatchService) -> APIRouter:
    store = service.uploads
    settings = service.settings
    api = APIRouter()

    def owned(request: Request, upload_id: str) -> Upload:
        owner = owner_of(authenticate(request))
        upload = store.get(owner, upload_id) if well_formed(upload_id) else None
        if upload is None:
            raise errors.upload_not_found(shown(upload_id))
        return upload

    def rendered(upload: Upload) -> dict[str, Any]:
        stored = service.files.get(upload.owner, upload.file_id) if upload.file_id else None
        return upload_object(upload, file_object(stored) if stored else None, time.time())

    def created(request: Request, owner: str, raw: bytes) -> dict[str, Any]:
        size, filename, purpose, mime_type = parse_create(raw, settings.batch_upload_max_bytes)
        if len(store.open_uploads(owner)) >= settings.batch_max_open_uploads:
            raise errors.too_many_open_uploads(settings.batch_max_open_uploads)
        check_storage(service, owner, size)  # its bytes are reserved while it is open
        return rendered(store.create(owner, size, filename, purpose, mime_type))

    @api.post("/v1/uploads")
    async def create_upload(request: Request) -> Response:
        owner = owner_of(await api_key_id(request))  # before reading the body
        raw = await request.body()
        return json_response(await off_loop(request, created, request, owner, raw))

    def pending(request: Request, upload_id: str) -> Upload:
        upload = owned(request, upload_id)
        status = upload.status(time.time())
        if status != PENDING:
            raise errors.upload_not_pending(upload_id, status)
        return upload

    def added(upload: Upload, data: UploadFile) -> dict[str, Any]:
        stream = data.file
        size = stream.seek(0, 2)  # spooled by python-multipart: a seek, not a read
        stream.seek(0)
        if size == 0:
            raise errors.invalid("'data' is empty: a part holds at least one byte.", "data")
        try:
            return part_object(store.add_part(upload, stream, size))
        except PartRefused as refused:
            if refused.reason == "bytes":
                raise errors.upload_part_overflow(upload.id, upload.bytes) from None
            if refused.reason == "parts":
                raise errors.upload_too_many_parts(upload.id, store.max_parts) from None
            now = store.get(upload.owner, upload.id) or upload
            raise errors.upload_not_pending(upload.id, now.status(time.time())) from None

    @api.post("/v1/uploads/{upload_id}/parts")
    async def add_part(request: Request, upload_id: str) -> Response:
        upload = await off_loop(request, pending, request, upload_id)  # before the body
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise errors.invalid(
                f"Expected a multipart/form-data body with 'data'; got Content-Type "
                f"{content_type or '(none)'!r}.",
                "data",
            )
        form = await request.form(max_files=1, max_fields=4)
        try:
            data = form.get("data")
            if not isinstance(data, UploadFile):
                raise errors.missing_parameter("data")
            return json_response(await off_loop(request, added, upload, data))
        finally:
            await form.close()

    def completed(request: Request, upload: Upload, raw: bytes) -> dict[str, Any]:
        upload_id = upload.id
        part_ids, md5 = parse_complete(raw, store.max_parts)
        digest = completion_digest(part_ids, md5)
        if upload.stored_status == COMPLETED and upload.completion == digest:
            return rendered(upload)  # a retry of the completion that won: the same answer
        if (status := upload.status(time.time())) != PENDING:
            raise errors.upload_not_pending(upload_id, status)
        stored_parts = store.parts(upload_id)
        for part_id in part_ids:
            if part_id not in stored_parts:
                raise errors.upload_part_not_found(part_id)
        chosen = [stored_parts[p] for p in part_ids]
        if (received := sum(p.size for p in chosen)) != upload.bytes:
            raise errors.upload_size_mismatch(upload_id, upload.bytes, received)
        try:
            stored, actual_md5 = store.assemble(upload, chosen)
        except PartRefused:
            return completed_elsewhere(request, upload_id, digest)
        if md5 is not None and md5 != actual_md5:
            store.discard(stored)
            raise errors.upload_md5_mismatch(md5, actual_md5)
        if not store.complete(upload, stored, digest):
            store.discard(stored)  # cancelled, expired or completed meanwhile
            return completed_elsewhere(request, upload_id, digest)
        cleanup(list(stored_parts.values()))
        return rendered(owned(request, upload_id))

    def completed_elsewhere(request: Request, upload_id: str, digest: str) -> dict[str, Any]:
        upload = owned(request, upload_id)
        if upload.stored_status == COMPLETED and upload.completion == digest:
            return rendered(upload)
        raise errors.upload_not_pending(upload_id, upload.status(time.time()))

    def cleanup(parts: list[Any]) -> None:
        try:
            store.drop_part_objects(parts)
        except Exception:  # the bucket's lifecycle rule removes them later
            log.exception("deleting upload parts failed")

    @api.post("/v1/uploads/{upload_id}/complete")
    async def complete_upload(request: Request, upload_id: str) -> Response:
        upload = await off_loop(request, owned, request, upload_id)  # before reading the body
        raw = await request.body()
        return json_response(await off_loop(request, completed, request, upload, raw))

    def cancelled(request: Request, upload_id: str) -> dict[str, Any]:
        upload = owned(request, upload_id)
        if upload.stored_status == CANCELLED:
            return rendered(upload)  # cancelling twice is not an error
        if not store.cancel(upload):
            upload = owned(request, upload_id)
            raise errors.upload_not_pending(upload_id, upload.status(time.time()))
        cleanup(list(store.parts(upload_id).values()))
        return rendered(owned(request, upload_id))

    @api.post("/v1/uploads/{upload_id}/cancel")
    async def cancel_upload(request: Request, upload_id: str) -> Response:
        return json_response(await off_loop(request, cancelled, request, upload_id))

    return api
