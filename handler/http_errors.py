"""An APIError as an HTTP response: the one place an error becomes bytes, and the exception
handlers that route the framework's and the domain's errors there (handler/errors.py holds
the errors themselves, free of any web framework).
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from handler.embedder import InputError
from handler.errors import APIError, method_not_allowed, route_not_found, to_api_error


def http_api_error(exc: Exception, method: str, path: str) -> APIError | None:
    """`to_api_error`, plus the framework's routing errors (naming the request)."""
    if isinstance(exc, StarletteHTTPException):
        return _from_http_exception(exc, method, path)
    return to_api_error(exc)


def _from_http_exception(exc: StarletteHTTPException, method: str, path: str) -> APIError:
    if exc.status_code == 404:  # no route matched
        return route_not_found(method, path)
    if exc.status_code == 405:
        return method_not_allowed(method, path, (exc.headers or {}).get("Allow", ""))
    return APIError(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


def error_response(error: APIError, headers: dict[str, str] | None = None) -> Response:
    """The envelope as a JSON response; the one place an error becomes bytes."""
    return Response(
        orjson.dumps(error.envelope()),
        status_code=error.status,
        media_type="application/json",
        headers={**error.headers, **(headers or {})},
    )


def install_exception_handlers(app: FastAPI) -> None:
    """Route framework and domain errors through `http_api_error`; unknown ones are
    re-raised for the request-context middleware, which answers a 500 with the request id."""

    async def handle(request: Request, exc: Exception) -> Response:
        error = http_api_error(exc, request.method, request.url.path)
        if error is None:
            raise exc
        return error_response(error)

    for exc_type in (APIError, InputError, StarletteHTTPException):
        app.add_exception_handler(exc_type, handle)
