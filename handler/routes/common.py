"""What every route needs from the app: its wired parts, and the caller's key."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from handler.embeddings.models import ServedModels
from handler.hooks import (
    Authenticator,
    Caller,
    Credentials,
    Limiter,
    Meter,
    NoMeter,
    UsageRecorder,
    UsageReport,
)
from handler.offload import off_loop
from handler.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    models: ServedModels  # the resolver of a request's `model` (handler/embeddings/models.py)
    authenticator: Authenticator
    recorder: UsageRecorder
    limiter: Limiter
    usage_report: UsageReport | None = None  # GET /v1/usage is served only with one
    meter: Meter = NoMeter()


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def caller_of(request: Request) -> Caller:
    """The request's Caller from the wired authenticator; once per request (the authenticator
    counts the request against the key's RPM), however many steps of a route ask. The route
    layer keeps it in request.state.caller, where the middleware finds the headers the quota
    steps set. Blocking (a key lookup may read DynamoDB): call it through off_loop."""
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:
        credentials = Credentials(
            request.headers.get("authorization"), request.scope.get("path", "")
        )
        caller = services(request).authenticator(credentials)
        request.state.caller = caller
    return caller


def authenticate(request: Request) -> str | None:
    """The caller's key id (None when auth is off); see caller_of."""
    return caller_of(request).key_id


async def api_key_id(request: Request) -> str | None:
    """FastAPI dependency: `authenticate`, off the event loop."""
    return await off_loop(request, authenticate, request)
