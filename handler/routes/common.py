"""What every route needs from the app: its wired parts, and the caller's key."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from handler.embedder import Embedder
from handler.embeddings.models import ServedModel, SingleModel
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
    embedder: Embedder
    authenticator: Authenticator
    recorder: UsageRecorder
    limiter: Limiter
    usage_report: UsageReport | None = None  # GET /v1/usage is served only with one
    meter: Meter = NoMeter()

    @property
    def models(self) -> SingleModel:
        """The served models (handler/embeddings/models.py): the resolver of `model`."""
        return SingleModel(self.embedder, self.settings.model_aliases)

    @property
    def model_names(self) -> tuple[str, ...]:
        """The served id first, then its aliases."""
        return self.models.names

    def resolve_model(self, requested: str) -> ServedModel:
        """What serves `requested`; a 404 model_not_found for anything else."""
        return self.models(requested)


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
