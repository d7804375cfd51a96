"""OpenAI's File and Batch objects, and list pages, as plain dicts from stored items."""

from __future__ import annotations

from typing import Any

from handler.batch.batches import TERMINAL
from handler.batch.files import StoredFile

BATCH_TIMESTAMPS = (
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


def file_object(stored: StoredFile) -> dict[str, Any]:
    return {
        "id": stored.id,
        "object": "file",
        "bytes": stored.bytes,
        "created_at": stored.created_at,
        "expires_at": stored.expires_at,
        "filename": stored.filename,
        "purpose": stored.purpose,
        "status": "processed",
        "status_details": None,
    }


def deleted_file(file_id: str) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "deleted": True}


def batch_usage(item: dict[str, Any]) -> dict[str, Any] | None:
    """OpenAI's Batch `usage` once the batch has ended (None before): the input tokens of
    its delivered lines, as billed; embeddings have no output tokens."""
    if item["status"] not in TERMINAL:
        return None
    tokens = int(item.get("tokens") or 0)
    return {
        "input_tokens": tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": tokens,
    }


def batch_object(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "object": "batch",
        "endpoint": item["endpoint"],
        "errors": item.get("errors"),
        "input_file_id": item["input_file_id"],
        "completion_window": item["completion_window"],
        "status": item["status"],
        "output_file_id": item.get("output_file_id"),
        "error_file_id": item.get("error_file_id"),
        "created_at": item["created_at"],
        "expires_at": item["expires_at"],
        **{stamp: item.get(stamp) for stamp in BATCH_TIMESTAMPS},
        "request_counts": {
            "total": item["total"],
            "completed": item["completed"],
            "failed": item["failed"],
        },
        "metadata": item.get("metadata"),
        "usage": batch_usage(item),
    }


def page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
