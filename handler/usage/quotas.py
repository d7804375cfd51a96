"""Per-key quotas: requests and tokens per minute, and an optional monthly token budget.

Each limit is one DynamoDB counter item updated with a conditional UpdateItem, so many
containers admitting requests at once never let a window go past its limit (fixed windows:
the UTC minute and the UTC calendar month). A rejected request writes nothing. Failure
policy: a DynamoDB error propagates (the request fails) rather than serving unmetered.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from botocore.exceptions import ClientError

from handler.usage.keys import ApiKey, Limits
from handler.usage.store import TTL_ATTRIBUTE, Client, error_code, minute_key, month_key

REQUESTS = "requests"
TOKENS = "tokens"
MONTHLY = "monthly_tokens"


@dataclass(frozen=True)
class RateLimitState:
    """Where a limited key stands after its request was admitted."""

    limits: Limits
    minute: str  # window id, YYYYMMDDHHMM
    requests_used: int
    tokens_used: int
    reset_seconds: float

    def headers(self) -> dict[str, str]:
        """OpenAI's x-ratelimit-* headers for the limits this key has."""
        headers: dict[str, str] = {}
        reset = format_duration(self.reset_seconds)
        for kind, limit, used in (
            (REQUESTS, self.limits.rpm, self.requests_used),
            (TOKENS, self.limits.tpm, self.tokens_used),
        ):
            if limit is not None:
                headers[f"x-ratelimit-limit-{kind}"] = str(limit)
                headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, limit - used))
                headers[f"x-ratelimit-reset-{kind}"] = reset
        return headers


class QuotaExceededError(Exception):
    """A limit would be exceeded; `kind` is requests, tokens or monthly_tokens."""

    def __init__(self, kind: str, message: str, retry_after: float, state: RateLimitState):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.state = state

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "7s", "1m30s"."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _month_bounds(now: datetime) -> tuple[str, float]:
    """Month id and epoch seconds of the next month's start."""
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return now.strftime("%Y-%m"), datetime(year, month, 1, tzinfo=UTC).timestamp()


def seconds_to_next_month(now: float) -> float:
    return _month_bounds(datetime.fromtimestamp(now, UTC))[1] - now


def _is_condition_failure(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


class QuotaGate:
    """Admit or reject a request for a key, counting it against the key's windows."""

    def __init__(self, client: Client, table: str, clock: Callable[[], float] = time.time):
        self.client = client
        self.table = table
        self.clock = clock

    def _window(self) -> tuple[float, datetime, RateLimitState, int]:
        now = self.clock()
        window_start = now - now % 60
        stamp = datetime.fromtimestamp(now, UTC)
        minute = stamp.strftime("%Y%m%d%H%M")
        return (
            now,
            stamp,
            RateLimitState(Limits(), minute, 0, 0, window_start + 60 - now),
            (int(window_start) + 120),
        )

    def count_request(self, key: ApiKey) -> RateLimitState | None:
        """Count one request against the key's RPM, before any work is done for it; None for
        a key without per-minute limits. The count is never given back: a request refused
        later (a 400, a 429 on tokens) still counts. Raises QuotaExceededError over the RPM."""
        limits = key.limits
        if limits.rpm is None and limits.tpm is None:
            return None
        _, _, state, expires_at = self._window()
        state = replace(state, limits=limits)
        return self._update_minute(key, 1, 0, state, expires_at)

    def admit(
        self, key: ApiKey, tokens: int, counted: RateLimitState | None = None
    ) -> RateLimitState | None:
        """Charge `tokens` against the key's TPM and monthly budget; None for a key without
        limits. `counted` is what count_request returned for this request (its request is
        then not counted again); without it the request is counted here too.

        Raises QuotaExceededError (no tokens counted) when a limit would be passed.
        """
        limits = key.limits
        if not limits.limited:
            return None
        _, stamp, state, expires_at = self._window()
        state = replace(state, limits=limits)
        per_minute = limits.rpm is not None or limits.tpm is not None
        requests = 1 if counted is None else 0
        if counted is not None and counted.minute == state.minute:
            state = replace(
                state, requests_used=counted.requests_used, tokens_used=counted.tokens_used
            )
        if per_minute:
            state = self._update_minute(key, requests, tokens, state, expires_at)
        if limits.monthly_tokens is not None:
            try:
                self._count_month(key, tokens, stamp)
            except QuotaExceededError as exc:
                if per_minute:  # give back what the minute window just counted
                    self._adjust_minute(key.key_id, state.minute, -requests, -tokens)
                    state = replace(
                        state,
                        requests_used=state.requests_used - requests,
                        tokens_used=state.tokens_used - tokens,
                    )
                raise QuotaExceededError(exc.kind, exc.message, exc.retry_after, state) from None
            except Exception:
                if per_minute:  # the request fails: it must not keep the minute's charge
                    self._adjust_minute(key.key_id, state.minute, -requests, -tokens)
                raise
        return state

    def charge_refused(self, key: ApiKey, tokens: int) -> None:
        """Count the tokens of a request refused after tokenizing (an over-long input) in
        the key's minute window, without a condition: tokenizing them was work done for the
        key, so they count against its TPM (not its monthly budget: nothing was served)."""
        if key.limits.tpm is None or tokens <= 0:
            return
        _, _, state, expires_at = self._window()
        self.client.update_item(
            TableName=self.table,
            Key=minute_key(key.key_id, state.minute),
            UpdateExpression=f"ADD tokens :t SET {TTL_ATTRIBUTE} = :exp",
            ExpressionAttributeValues={":t": {"N": str(tokens)}, ":exp": {"N": str(expires_at)}},
        )

    def tokens_left(self, key: ApiKey, state: RateLimitState | None) -> None:
        """Before tokenizing: raise QuotaExceededError when the key's TPM for this minute is
        already spent (so a key cannot make the service tokenize more than its TPM)."""
        tpm = key.limits.tpm
        if tpm is None or state is None or state.tokens_used < tpm:
            return
        raise self._minute_rejection(
            key, {"requests": {"N": str(state.requests_used)}, "tokens": {"N": str(tpm)}}, state
        )

    def refund(self, key: ApiKey, state: RateLimitState, tokens: int) -> None:
        """Give back the tokens admit() counted for a request that then got no embeddings
        (its request stays counted: a refused request is still a request).

        Conditional on the counter still existing, so a refund after its window expired (TTL)
        creates no stray item. Raises a DynamoDB error as is (the caller logs it)."""
        limits = state.limits
        if limits.rpm is not None or limits.tpm is not None:
            self._adjust_minute(key.key_id, state.minute, 0, -tokens, only_existing=True)
        if limits.monthly_tokens is not None:
            month = f"{state.minute[:4]}-{state.minute[4:6]}"
            self._update_existing(month_key(key.key_id, month), "ADD tokens :t", {":t": -tokens})

    def _update_minute(
        self, key: ApiKey, requests: int, tokens: int, state: RateLimitState, expires_at: int
    ) -> RateLimitState:
        """Add `requests` and `tokens` to this minute's counter if they fit its limits."""
        limits = key.limits
        conditions: list[str] = []
        values: dict[str, Any] = {
            ":one": {"N": str(requests)},
            ":t": {"N": str(tokens)},
            ":exp": {"N": str(expires_at)},
        }
        if limits.rpm is not None and requests:
            conditions.append("(attribute_not_exists(requests) OR requests < :rpm)")
            values[":rpm"] = {"N": str(limits.rpm)}
        if limits.tpm is not None and tokens:
            # Conditions cannot add, so compare with the room this request needs.
            room = limits.tpm - max(tokens, 1)
            if room < 0:
                raise QuotaExceededError(
                    TOKENS,
                    f"Request too large: {tokens} tokens requested, limit is {limits.tpm} "
                    "tokens per minute.",
                    state.reset_seconds,
                    state,
                )
            conditions.append("(attribute_not_exists(tokens) OR tokens <= :room)")
            values[":room"] = {"N": str(room)}
        condition = {"ConditionExpression": " AND ".join(conditions)} if conditions else {}
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=minute_key(key.key_id, state.minute),
                UpdateExpression=f"ADD requests :one, tokens :t SET {TTL_ATTRIBUTE} = :exp",
                **condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            old = cast(dict[str, Any], exc.response.get("Item") or {})  # ALL_OLD on failure
            raise self._minute_rejection(key, old, state) from None
        item = response["Attributes"]
        return RateLimitState(
            limits,
            state.minute,
            int(item["requests"]["N"]),
            int(item["tokens"]["N"]),
            state.reset_seconds,
        )

    def _minute_rejection(
        self, key: ApiKey, old: dict[str, Any], state: RateLimitState
    ) -> QuotaExceededError:
        used_requests = int(old.get("requests", {"N": "0"})["N"])
        used_tokens = int(old.get("tokens", {"N": "0"})["N"])
        now_state = RateLimitState(
            key.limits, state.minute, used_requests, used_tokens, state.reset_seconds
        )
        rpm, tpm = key.limits.rpm, key.limits.tpm
        if rpm is not None and (used_requests >= rpm or tpm is None):
            kind, limit, used, unit = REQUESTS, rpm, used_requests, "requests per min (RPM)"
        else:
            kind, limit, used, unit = TOKENS, tpm or 0, used_tokens, "tokens per min (TPM)"
        wait = format_duration(state.reset_seconds)
        message = (
            f"Rate limit reached for {key.key_id} on {unit}: Limit {limit}, Used {used}. "
            f"Please try again in {wait}."
        )
        return QuotaExceededError(kind, message, state.reset_seconds, now_state)

    def _count_month(self, key: ApiKey, tokens: int, stamp: datetime) -> None:
        budget = key.limits.monthly_tokens or 0
        month, next_month = _month_bounds(stamp)
        retry_after = next_month - stamp.timestamp()
        room = budget - max(tokens, 1)
        message = (
            f"Monthly token budget of {budget} tokens reached for {key.key_id}; "
            "it resets at the start of next month (UTC)."
        )
        if room < 0:
            raise QuotaExceededError(MONTHLY, message, retry_after, _EMPTY)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=month_key(key.key_id, month),
                UpdateExpression=f"ADD tokens :t SET {TTL_ATTRIBUTE} = :exp",
                ConditionExpression="attribute_not_exists(tokens) OR tokens <= :room",
                ExpressionAttributeValues={
                    ":t": {"N": str(tokens)},
                    ":room": {"N": str(room)},
                    ":exp": {"N": str(int(next_month) + 40 * 86400)},
                },
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            raise QuotaExceededError(MONTHLY, message, retry_after, _EMPTY) from None

    def _adjust_minute(
        self, key_id: str, minute: str, requests: int, tokens: int, only_existing: bool = False
    ) -> None:
        key = minute_key(key_id, minute)
        expression = "ADD requests :r, tokens :t"
        values = {":r": requests, ":t": tokens}
        if only_existing:
            self._update_existing(key, expression, values)
            return
        self.client.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression=expression,
            ExpressionAttributeValues={k: {"N": str(v)} for k, v in values.items()},
        )

    def _update_existing(
        self, key: dict[str, Any], expression: str, values: dict[str, int]
    ) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists({TTL_ATTRIBUTE})",
                ExpressionAttributeValues={k: {"N": str(v)} for k, v in values.items()},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise


_EMPTY = RateLimitState(Limits(), "", 0, 0, 0.0)
