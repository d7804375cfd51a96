"""Pure ASGI middleware: request id, timing and cold-start headers, body-size limit,
last-resort 500, and the request's metrics (handler/metrics.py), emitted once it is answered.

It sits inside Starlette's ServerErrorMiddleware, so an unexpected exception is answered here
in OpenAI's envelope with the request id (and logged with its traceback) instead of reaching
Mangum, which would answer a plain-text 500, or the client as a stack trace.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handler.errors import APIError, body_too_large, internal_error
from handler.http_errors import error_response
from handler.logs import current_request_id
from handler.metrics import Metrics, RequestMetrics
from handler.offload import LAMBDA_EVENT

logger = logging.getLogger("handler")
COLD_START_HEADER = b"x-cold-start"  # "true" on a container's first response, else "false"


def request_id_for(scope: Scope) -> str:
    """API Gateway's request id (v1 and v2 both carry requestContext.requestId), else a new one."""
    event: dict[str, Any] = scope.get(LAMBDA_EVENT) or {}
    request_id = (event.get("requestContext") or {}).get("requestId")
    return str(request_id) if request_id else f"req_{uuid.uuid4().hex}"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def route_template(scope: Scope) -> str | None:
    """The matched route's template (`/v1/models/{model_id:path}`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, metrics: Metrics, model: str) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.model = model
        self.served = 0  # requests this process has seen: 0 means a cold container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_for(scope)
        cold = self.served == 0
        self.served += 1
        measured = RequestMetrics(
            request_id=request_id,
            model=self.model,
            default_model=self.model,
            cold=cold,
            init_ms=self.metrics.init_ms if cold else None,
        )
        state = scope.setdefault("state", {})
        state.update(request_id=request_id, started=started, cold=cold, metrics=measured)
        id_token = current_request_id.set(request_id)
        try:
            await self._serve(scope, receive, send, measured)
        finally:
            current_request_id.reset(id_token)
            measured.route = route_template(scope) or measured.route
            measured.latency_ms = (time.perf_counter() - started) * 1000
            self.metrics.emit(measured)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, measured: RequestMetrics
    ) -> None:
        state = scope["state"]
        started, request_id = state["started"], measured.request_id
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                measured.status = message["status"]
                elapsed_ms = int((time.perf_counter() - started) * 1000)
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"openai-processing-ms", str(elapsed_ms).encode()))
                headers.append((COLD_START_HEADER, b"true" if measured.cold else b"false"))
                caller = state.get("caller")  # routes/common.caller_of: x-ratelimit-* from quotas
                extra = caller.headers if caller is not None else {}
                headers.extend((k.encode(), v.encode()) for k, v in extra.items())
                message = {**message, "headers": headers}
            await send(message)

        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            too_large = body_too_large(declared, limit, scope.get("path", ""))
            await error_response(too_large)(scope, receive, send_with_headers)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise body_too_large(received, limit, scope.get("path", ""))
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except APIError as error:  # raised while reading the body, outside a route
            if response_started:
                raise
            await error_response(error)(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error in request %s", request_id)
            if response_started:
                return
            await error_response(internal_error(request_id))(scope, receive, send_with_headers)
