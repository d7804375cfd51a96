"""What every route needs from the app: its wired parts, and the caller's key."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from handler.hooks import Authenticator, Limiter, Meter, NoMeter, UsageRecorder, UsageReport
from handler.offload import off_loop
from handler.served_models import ServedModels
from handler.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    models: ServedModels
    authenticator: Authenticator
    recorder: UsageRecorder
    limiter: Limiter
    usage_report: UsageReport | None = None  # GET /v1/usage is served only with one
    meter: Meter = NoMeter()


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def authenticate(request: Request) -> str | None:
    """The caller's key id from the wired authenticator, kept in request.state.api_key_id;
    once per request (the authenticator counts the request against the key's RPM), however
    many steps of a route ask. Blocking (a key lookup may read DynamoDB): call it through
    off_loop."""
    state = request.state
    if getattr(state, "authenticated", False):
        key_id: str | None = state.api_key_id
        return key_id
    key_id = services(request).authenticator(request)
    state.api_key_id, state.authenticated = key_id, True
    return key_id


async def api_key_id(request: Request) -> str | None:
    """FastAPI dependency: `authenticate`, off the event loop."""
    return await off_loop(request, authenticate, request)
