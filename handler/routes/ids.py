"""The shape of the ids a client sends back (files, batches, uploads), checked before any
lookup: ours are a prefix and 24 hex digits, so anything longer than MAX_ID_CHARS or outside
[A-Za-z0-9_-] names nothing, and answering it without a read keeps a 2 KB key (DynamoDB's
limit, a 500) or a megabyte of id out of the table and out of the error message."""

from __future__ import annotations

import re

from handler import errors

MAX_ID_CHARS = 64
ID_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_CHARS}}}")


def well_formed(value: str) -> bool:
    return ID_SHAPE.fullmatch(value) is not None


def shown(value: str) -> str:
    """An id as an error message may echo it: at most MAX_ID_CHARS characters."""
    return value if len(value) <= MAX_ID_CHARS else value[:MAX_ID_CHARS] + "..."


def after_param(raw: str | None) -> str | None:
    """A listing's `after` cursor: None when absent, a 400 when it cannot be an id."""
    if raw is None or raw == "":
        return None
    if not well_formed(raw):
        raise errors.invalid(
            f"'after' must be an object id of at most {MAX_ID_CHARS} letters, digits, '-' or "
            f"'_'; got {shown(raw)!r}.",
            "after",
        )
    return raw
