"""The usage module as the app sees it: the authenticator, the limiter, the recorder and
GET /v1/usage, built once at cold start from Settings.

Failure policy: a DynamoDB error while checking a key or a quota fails the request (500,
no vectors served unmetered); a usage write never fails it (see recorder.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from handler import errors
from handler.hooks import Refund
from handler.hooks import UsageRecord as AppUsageRecord
from handler.offload import WORKERS, off_loop
from handler.routes.common import authenticate
from handler.routes.json import json_response
from handler.settings import Settings
from handler.usage import store
from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import ApiKey, CachedKeyLookup, KeyStore, Limits, effective_limits
from handler.usage.quotas import MONTHLY, QuotaExceededError, QuotaGate
from handler.usage.recorder import UsageRecorder
from handler.usage.records import UsageRecord
from handler.usage.report import UsageReader, usage_body, usage_window
from handler.usage.writer import UsageWriter

log = logging.getLogger("handler.usage")

ANONYMOUS = "anonymous"  # the key id usage is recorded under when auth is off
BEARER = "bearer "


class LazyClient:
    """A botocore client built on a background thread from construction on, so its ~0.1-0.3 s
    of imports and model loading overlap the model's load at cold start."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._client: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._build, args=(build,), daemon=True)
        self._thread.start()

    def _build(self, build: Callable[[], Any]) -> None:
        try:
            self._client = build()
        except BaseException as exc:  # re-raised in the thread that needs the client
            self._error = exc

    def __getattr__(self, name: str) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return getattr(self._client, name)


def quiet_botocore() -> None:
    """botocore's DEBUG lines print request and response bodies, which carry key hashes:
    keep its loggers at INFO or above whatever the root level is."""
    botocore_log = logging.getLogger("botocore")
    botocore_log.setLevel(max(logging.INFO, botocore_log.getEffectiveLevel()))


def bearer_secret(header: str | None) -> str | None:
    if not header or not header[: len(BEARER)].lower() == BEARER:
        return None
    return header[len(BEARER) :].strip() or None


class UsageService:
    def __init__(
        self,
        lookup: Callable[[str], ApiKey | None],
        gate: QuotaGate,
        recorder: UsageRecorder,
        reader: UsageReader,
        auth_enabled: bool = True,
        clock: Callable[[], float] = time.time,
        default_limits: Limits | None = None,
    ) -> None:
        self.lookup = lookup
        self.default_limits = default_limits or Limits()
        self.gate = gate
        self.recorder = recorder
        self.reader = reader
        self.auth_enabled = auth_enabled
        self.clock = clock

    @classmethod
    def from_settings(
        cls, settings: Settings, dynamodb: Any = None, sqs: Any = None
    ) -> UsageService:
        """Wire from Settings; clients are built in the background unless given."""
        quiet_botocore()

        def build(service: str) -> Any:
            return store.client_for(service, settings, connections=WORKERS)

        if dynamodb is None:
            dynamodb = LazyClient(lambda: build("dynamodb"))
        queue = None
        if settings.usage_queue_url:
            if sqs is None:
                sqs = LazyClient(lambda: build("sqs"))
            queue = SqsUsageQueue(sqs, settings.usage_queue_url)
        keys = KeyStore(dynamodb, settings.keys_table)
        return cls(
            lookup=CachedKeyLookup(keys.lookup, ttl=settings.key_cache_seconds),
            gate=QuotaGate(dynamodb, settings.usage_table),
            recorder=UsageRecorder(UsageWriter.from_settings(dynamodb, settings), queue),
            reader=UsageReader(dynamodb, settings.usage_table),
            auth_enabled=settings.auth_enabled,
            default_limits=Limits(
                rpm=settings.default_rpm,
                tpm=settings.default_tpm,
                monthly_tokens=settings.default_monthly_tokens,
            ),
        )

    def hooks(self) -> dict[str, Any]:
        """Keyword arguments for create_app."""
        return {
            "authenticator": self.authenticate,
            "limiter": self.limit,
            "recorder": self,
            "routers": [self.router()],
        }

    def authenticate(self, request: Request) -> str | None:
        """The caller's key id; 401 for a missing, unknown or revoked key. Blocking (a cache
        miss reads DynamoDB), as every hook here: the app calls them through off_loop."""
        if not self.auth_enabled:
            return None
        secret = bearer_secret(request.headers.get("authorization"))
        if secret is None:
            raise errors.missing_api_key()
        key = self.lookup(secret)
        if key is None or not key.active:
            raise errors.invalid_api_key()
        request.state.api_key = key
        return key.key_id

    def limit(self, request: Request, prompt_tokens: int) -> Refund | None:
        """Count the request against its key's quotas before the model runs; 429 over one.
        Returns how to give the charge back if the request then fails (None: no limits)."""
        key: ApiKey | None = getattr(request.state, "api_key", None)
        if key is None:
            return None
        # The one place deployment defaults meet a key's own limits.
        key = replace(key, limits=effective_limits(key.limits, self.default_limits))
        try:
            state = self.gate.admit(key, prompt_tokens)
        except QuotaExceededError as exc:
            request.state.response_headers = exc.state.headers()
            if exc.kind == MONTHLY:
                raise errors.quota_exhausted(exc.message, exc.retry_after_header) from None
            raise errors.rate_limited(exc.kind, exc.message, exc.retry_after_header) from None
        if state is None:
            return None
        request.state.response_headers = state.headers()
        charged = key  # with the effective limits the gate counted against

        def refund() -> None:
            try:
                self.gate.refund(charged, state, prompt_tokens)
            except (BotoCoreError, ClientError) as exc:  # the request's own error matters more
                line = {"event": "quota_refund_failed", "key_id": charged.key_id}
                log.warning(json.dumps({**line, "error": type(exc).__name__}))

        return refund

    def record(self, usage: AppUsageRecord) -> str:
        """The app's recorder hook: never raises (the client already has its vectors);
        returns the outcome (recorder.RecordOutcome) for the request's metrics."""
        return self.recorder(
            UsageRecord(
                request_id=usage.request_id,
                key_id=usage.api_key_id or ANONYMOUS,
                model=usage.model,
                prompt_tokens=usage.prompt_tokens,
                total_tokens=usage.prompt_tokens,
                inputs=usage.input_count,
                dimensions=usage.dimensions,
                encoding_format=usage.encoding_format,
                user=usage.user,
                latency_ms=usage.latency_ms,
                timestamp=self.clock(),
            )
        )

    def usage(self, key_id: str | None, query: list[tuple[str, str]]) -> Any:
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        start, end = usage_window(query, today)
        owner = key_id or ANONYMOUS
        return usage_body(owner, start, end, self.reader.daily(owner, start, end))

    def router(self) -> APIRouter:
        router = APIRouter()

        def authenticated_usage(request: Request, query: list[tuple[str, str]]) -> Any:
            return self.usage(authenticate(request), query)

        # Plain Request, no typed query parameters: analysing those makes FastAPI import
        # pydantic.v1, tens of milliseconds of cold start. The key check and the read share
        # one trip off the event loop (as in the embeddings route).
        @router.get("/v1/usage")
        async def get_usage(request: Request) -> Response:
            query = request.query_params.multi_items()
            body = await off_loop(request, authenticated_usage, request, query)
            return json_response(body)

        return router
