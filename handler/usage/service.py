"""The usage module as the app sees it: the authenticator, the limiter, the recorder and
GET /v1/usage, built once at cold start from Settings.

Failure policy: a DynamoDB error while checking a key or a quota fails the request (500,
no vectors served unmetered); a usage write never fails it (see recorder.py).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler import errors
from handler.hooks import Caller, Credentials, Refund
from handler.offload import WORKERS
from handler.records import ANONYMOUS, UsageRecord
from handler.settings import Settings
from handler.usage import store
from handler.usage.budget import LineBudget
from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import (
    LIMIT_NAMES,
    ApiKey,
    CachedKeyLookup,
    KeyStore,
    Limits,
    bearer_secret,
    effective_limits,
)
from handler.usage.quotas import (
    MONTHLY,
    REQUESTS,
    QuotaExceededError,
    QuotaGate,
    RateLimitState,
    seconds_to_next_month,
)
from handler.usage.recorder import UsageRecorder
from handler.usage.report import UsageReader, usage_body, usage_window
from handler.usage.stream_ledger import ledger_writer

log = logging.getLogger("handler.usage")
# The route whose request is counted together with its tokens (one write), not at the key check.
DEFERRED_PATH = "/v1/embeddings"


@dataclass
class _Quota:
    """A request's quota state (Caller.quota): its key, what authenticate counted, and
    whether the request itself is still to be counted (an embeddings request, counted with
    its tokens)."""

    key: ApiKey
    counted: RateLimitState | None
    pending: bool = False


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
        keys: KeyStore | None = None,
        budget: LineBudget | None = None,
    ) -> None:
        self.lookup = lookup
        self.keys = keys
        self.budget = budget
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
        """Wire from Settings; unless given, the DynamoDB client is built in the background
        from now on and the SQS client by its first use."""
        store.quiet_botocore()

        def build(service: str) -> Any:
            return store.client_for(service, settings, connections=WORKERS)

        if dynamodb is None:
            dynamodb = store.LazyClient(lambda: build("dynamodb"))
        queue = None
        if settings.usage_queue_url:
            if sqs is None:  # used only when DynamoDB refuses a record: built then
                sqs = store.OnDemandClient(lambda: build("sqs"))
            queue = SqsUsageQueue(sqs, settings.usage_queue_url)
        keys = KeyStore(dynamodb, settings.keys_table)
        return cls(
            lookup=CachedKeyLookup(keys.lookup, ttl=settings.key_cache_seconds),
            gate=QuotaGate(dynamodb, settings.usage_table),
            recorder=UsageRecorder(
                ledger_writer(
                    settings, dynamodb, lambda: store.LazyClient(lambda: build("kinesis"))
                ),
                queue,
            ),
            reader=UsageReader(dynamodb, settings.usage_table),
            auth_enabled=settings.auth_enabled,
            default_limits=Limits(
                **{name: getattr(settings, f"default_{name}") for name in LIMIT_NAMES}
            ),
            keys=keys,
            budget=LineBudget(dynamodb, settings.usage_table),
        )

    def hooks(self) -> dict[str, Any]:
        """Keyword arguments for create_app."""
        return {
            "authenticator": self.authenticate,
            "limiter": self.limit,
            "recorder": self,
            "usage_report": self.usage,
            "meter": self,
        }

    def reconnect(self, settings: Settings) -> None:
        """After a SnapStart restore: the same service on fresh AWS clients (the pooled
        connections and resolved credentials in the snapshot are stale). The cached key
        verdicts go with the old clients."""
        fresh = UsageService.from_settings(settings)
        self.lookup, self.gate = fresh.lookup, fresh.gate
        self.keys, self.budget = fresh.keys, fresh.budget
        self.recorder, self.reader = fresh.recorder, fresh.reader

    def authenticate(self, credentials: Credentials) -> Caller:
        """The Caller; 401 for a missing, unknown or revoked key. Blocking (a cache miss
        reads DynamoDB), as every hook here: the app calls them through off_loop."""
        if not self.auth_enabled:
            return Caller()
        secret = bearer_secret(credentials.authorization)
        if secret is None:
            raise errors.missing_api_key()
        key = self.lookup(secret)
        if key is None or not key.active:
            raise errors.invalid_api_key()
        # Every client-callable route counts against the key's RPM, before any work is done
        # for the request (reading its body, tokenizing), and whatever its answer. An
        # embeddings request is counted with its tokens, in the one quota write `limit` makes
        # (or by `settle` if it ends before); here it is refused if this container already
        # knows the key's minute is spent.
        limited = self._limited(key)
        deferred = credentials.path.endswith(DEFERRED_PATH)
        try:
            if deferred:
                counted = self.gate.peek(limited)
            else:
                counted = self.gate.count_request(limited)
        except QuotaExceededError as exc:
            error = errors.rate_limited(exc.kind, exc.message, exc.retry_after_header)
            error.headers.update(exc.state.headers())
            raise error from None
        quota = _Quota(key, counted, pending=deferred and counted is not None)
        headers = {} if counted is None else counted.headers()
        return Caller(key.key_id, key.key_hash, quota, headers)

    def _limited(self, key: ApiKey) -> ApiKey:
        """The key with the limits enforced: the one place deployment defaults meet a key's
        own limits."""
        return replace(key, limits=effective_limits(key.limits, self.default_limits))

    def _quota(self, caller: Caller) -> _Quota | None:
        quota: _Quota | None = caller.quota
        return quota

    def before_tokenizing(self, caller: Caller) -> None:
        """The Meter hook: 429 when the caller's TPM for this minute is already spent."""
        quota = self._quota(caller)
        if quota is None:
            return
        try:
            self.gate.tokens_left(self._limited(quota.key), quota.counted)
        except QuotaExceededError as exc:
            raise errors.rate_limited(exc.kind, exc.message, exc.retry_after_header) from None

    def refused(self, caller: Caller, tokens: int) -> None:
        """The Meter hook: a request refused after tokenizing counts its tokens (TPM), and
        itself if it was not counted yet."""
        self._settle(caller, tokens)

    def settle(self, caller: Caller) -> None:
        """The Meter hook: an embeddings request that ends before its tokens were charged (a
        400, a 413, a 429 on tokens) still counts against the RPM. Never raises."""
        self._settle(caller, 0)

    def _settle(self, caller: Caller, tokens: int) -> None:
        quota = self._quota(caller)
        if quota is None:
            return
        key = self._limited(quota.key)
        pending, quota.pending = quota.pending, False
        try:
            if pending:
                self.gate.settle(key, tokens)
            else:
                self.gate.charge_refused(key, tokens)
        except (BotoCoreError, ClientError) as exc:  # the request's own answer matters more
            line = {"event": "quota_refused_charge_failed", "key_id": key.key_id}
            log.warning(json.dumps({**line, "error": type(exc).__name__}))

    def budget_left(self, caller: Caller) -> None:
        """The Meter hook: 429 insufficient_quota when the monthly budget is spent (a batch
        is then refused at creation)."""
        quota = self._quota(caller)
        if quota is None or self.budget is None:
            return
        key = self._limited(quota.key)
        if not self.budget.spent(key):
            return
        retry_after = str(max(1, math.ceil(seconds_to_next_month(self.clock()))))
        raise errors.quota_exhausted(
            f"Monthly token budget of {key.limits.monthly_tokens} tokens reached for "
            f"{key.key_id}; it resets at the start of next month (UTC).",
            retry_after,
        )

    def limit(self, caller: Caller, prompt_tokens: int) -> Refund | None:
        """Charge the request's tokens against its key's quotas before the model runs; 429
        over one. Returns how to give the charge back if the request then fails (None: no
        limits). Its request was counted by `authenticate`. Sets the Caller's headers."""
        quota = self._quota(caller)
        if quota is None:
            return None
        key = self._limited(quota.key)
        try:
            state = self.gate.admit(key, prompt_tokens, None if quota.pending else quota.counted)
        except QuotaExceededError as exc:
            if exc.kind != REQUESTS:  # refused for its tokens: the request itself counts
                self.settle(caller)
            caller.headers = exc.state.headers()
            if exc.kind == MONTHLY:
                raise errors.quota_exhausted(exc.message, exc.retry_after_header) from None
            raise errors.rate_limited(exc.kind, exc.message, exc.retry_after_header) from None
        quota.pending = False
        if state is None:
            return None
        caller.headers = state.headers()
        charged = key  # with the effective limits the gate counted against

        def refund() -> None:
            try:
                self.gate.refund(charged, state, prompt_tokens)
            except (BotoCoreError, ClientError) as exc:  # the request's own error matters more
                line = {"event": "quota_refund_failed", "key_id": charged.key_id}
                log.warning(json.dumps({**line, "error": type(exc).__name__}))

        return refund

    def record(self, usage: UsageRecord) -> str:
        """The app's recorder hook: never raises (the client already has its vectors);
        returns the outcome (recorder.RecordOutcome) for the request's metrics. The
        record is stamped with the ledger's clock: the day it is counted in."""
        return self.recorder(replace(usage, timestamp=self.clock()))

    def record_many(self, usages: Sequence[UsageRecord]) -> list[str]:
        """A batch's lines (the batch worker's recorder): `record` for many, in few
        transactions, all stamped with one instant of the ledger's clock."""
        now = self.clock()
        return list(self.recorder.record_many([replace(u, timestamp=now) for u in usages]))

    def usage(self, key_id: str | None, query: list[tuple[str, str]]) -> dict[str, Any]:
        """GET /v1/usage's body (the app's UsageReport hook); a 400 for a bad parameter."""
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        start, end = usage_window(query, today)
        owner = key_id or ANONYMOUS
        return usage_body(owner, start, end, self.reader.daily(owner, start, end))
