"""OpenAI's File and Batch objects, and list pages, as plain dicts from stored items."""

from __future__ import annotations

from typing import Any

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
    }


def page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
