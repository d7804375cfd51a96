"""Every log record made while a request is served carries its x-request-id.

Lambda's JSON log format (template.yaml: LoggingConfig LogFormat JSON) already puts the
invocation's `requestId` on each line and copies a record's extra attributes to top-level
keys, so the attribute added here shows as `xRequestId`: the id the client got in its
`x-request-id` header, API Gateway's own (botocore's and our own lines included). Outside
a request the attribute is absent.

A record factory rather than a filter: a filter sits on one logger or handler, while the
factory sees records from every logger, whatever handlers the runtime installed.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

REQUEST_ID_ATTRIBUTE = "xRequestId"
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
_installed = False


def install() -> None:
    """Wrap the process's log record factory once (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        request_id = current_request_id.get()
        if request_id is not None:
            setattr(record, REQUEST_ID_ATTRIBUTE, request_id)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
