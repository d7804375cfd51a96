"""Per-key quotas: requests and tokens per minute, and an optional monthly token budget.

All of a key's limits are counted in one DynamoDB item per key and month, with one
conditional UpdateItem per charge (RPM, TPM and the budget together: one write unit), so many
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
from handler.usage.store import TTL_ATTRIBUTE, Client, error_code, month_key

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


# The key's quota item for the month (store.month_key) holds the month's tokens and the
# current minute's window, so one conditional UpdateItem checks and counts RPM, TPM and the
# monthly budget together.
MINUTE, MINUTE_REQUESTS, MINUTE_TOKENS = "minute_id", "minute_requests", "minute_tokens"
SEEN_KEYS = 10_000  # keys whose last minute a container remembers (then it forgets them all)


class QuotaGate:
    """Admit or reject a request for a key, counting it against the key's windows.

    The minute window lives in the month's quota item, so a new minute must reset it: the
    update either adds to the item's minute (`minute = :m`) or starts it (`minute < :m`).
    Which one is guessed from the minute this container last saw for the key; a wrong guess
    fails its condition, writes nothing (but costs a write unit) and is retried the other way:
    at most once per container, key and minute."""

    def __init__(self, client: Client, table: str, clock: Callable[[], float] = time.time):
        self.client = client
        self.table = table
        self.clock = clock
        self._seen: dict[str, RateLimitState] = {}  # key id -> its last counted state

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

    def peek(self, key: ApiKey) -> RateLimitState | None:
        """What this container last saw of the key's minute, without a DynamoDB call; None
        for a key without per-minute limits. Raises QuotaExceededError when that already
        spends the RPM (a request refused before its body is read; the write that counts it
        comes with its tokens, in `admit`)."""
        limits = key.limits
        if limits.rpm is None and limits.tpm is None:
            return None
        _, _, state, _ = self._window()
        seen = self._seen.get(key.key_id)
        if seen is None or seen.minute != state.minute:
            return replace(state, limits=limits)
        state = replace(seen, limits=limits, reset_seconds=state.reset_seconds)
        if limits.rpm is not None and state.requests_used >= limits.rpm:
            old = {MINUTE_REQUESTS: {"N": str(state.requests_used)}}
            raise self._minute_rejection(key, old, state)
        return state

    def count_request(self, key: ApiKey) -> RateLimitState | None:
        """Count one request against the key's RPM, before any work is done for it; None for
        a key without per-minute limits. The count is never given back: a request refused
        later (a 400, a 429 on tokens) still counts. Raises QuotaExceededError over the RPM."""
        limits = key.limits
        if limits.rpm is None and limits.tpm is None:
            return None
        return self._charge(key, 1, 0, check=True)

    def admit(
        self, key: ApiKey, tokens: int, counted: RateLimitState | None = None
    ) -> RateLimitState | None:
        """Charge `tokens` against the key's TPM and monthly budget, and count its request
        (RPM) unless `counted` says count_request already did: one conditional write. None
        for a key without limits.

        Raises QuotaExceededError (nothing counted) when a limit would be passed.
        """
        limits = key.limits
        if not limits.limited:
            return None
        requests = 1 if counted is None else 0
        return self._charge(key, requests, tokens, check=True)

    def settle(self, key: ApiKey, tokens: int = 0) -> None:
        """Count a request that ends before `admit` counted it (refused: a 400, a 429 on
        tokens), and `tokens` it was tokenized for, without a condition: it was work done for
        the key. Not against the monthly budget: nothing was served."""
        limits = key.limits
        if limits.rpm is None and limits.tpm is None:
            return
        self._charge(key, 1, tokens if limits.tpm is not None else 0, check=False, month=False)

    def charge_refused(self, key: ApiKey, tokens: int) -> None:
        """Count the tokens of a request refused after tokenizing (an over-long input) whose
        request was already counted (see `settle` for one that was not)."""
        if key.limits.tpm is None or tokens <= 0:
            return
        self._charge(key, 0, tokens, check=False, month=False)

    def tokens_left(self, key: ApiKey, state: RateLimitState | None) -> None:
        """Before tokenizing: raise QuotaExceededError when the key's TPM for this minute is
        already spent (so a key cannot make the service tokenize more than its TPM)."""
        tpm = key.limits.tpm
        if tpm is None or state is None or state.tokens_used < tpm:
            return
        old = {MINUTE_REQUESTS: {"N": str(state.requests_used)}, MINUTE_TOKENS: {"N": str(tpm)}}
        raise self._minute_rejection(key, old, state)

    def refund(self, key: ApiKey, state: RateLimitState, tokens: int) -> None:
        """Give back the tokens admit() counted for a request that then got no embeddings
        (its request stays counted: a refused request is still a request).

        Conditional on the item still existing, so a refund after it expired (TTL) creates no
        stray item; the minute's tokens only while that minute is still the item's. Raises a
        DynamoDB error as is (the caller logs it)."""
        limits = state.limits
        per_minute = limits.rpm is not None or limits.tpm is not None
        month_tokens = tokens if limits.monthly_tokens is not None else 0
        month = f"{state.minute[:4]}-{state.minute[4:6]}"
        item = month_key(key.key_id, month)
        if per_minute and self._update_existing(
            item,
            f"ADD {MINUTE_TOKENS} :t, tokens :mt",
            {":t": -tokens, ":mt": -month_tokens},
            minute=state.minute,
        ):
            return
        if month_tokens:
            self._update_existing(item, "ADD tokens :mt", {":mt": -month_tokens})

    def _charge(
        self, key: ApiKey, requests: int, tokens: int, check: bool, month: bool = True
    ) -> RateLimitState:
        """Add `requests` and `tokens` to the key's minute and (with `month` and a budget)
        its month, in one UpdateItem; with `check`, only if they fit every limit."""
        limits = key.limits
        _, stamp, state, _ = self._window()
        state = replace(state, limits=limits)
        month_id, next_month = _month_bounds(stamp)
        month_tokens = tokens if month and limits.monthly_tokens is not None else 0
        conditions = self._limit_conditions(key, requests, tokens, month_tokens, check)
        month_add = " ADD tokens :mt" if month_tokens else ""
        month_value = {":mt": {"N": str(month_tokens)}} if month_tokens else {}
        seen = self._seen.get(key.key_id)
        fresh = seen is None or seen.minute < state.minute
        for _ in range(3):
            if fresh:
                update = (
                    f"SET {MINUTE} = :m, {MINUTE_REQUESTS} = :r, {MINUTE_TOKENS} = :t, "
                    f"{TTL_ATTRIBUTE} = :exp{month_add}"
                )
                window = f"(attribute_not_exists({MINUTE}) OR {MINUTE} < :m)"
                # a new minute starts at zero: only the month's budget can refuse it
                limit = [c for c in conditions if ":mroom" in c[1]]
            else:
                update = (
                    f"SET {TTL_ATTRIBUTE} = :exp ADD {MINUTE_REQUESTS} :r, {MINUTE_TOKENS} :t"
                    + month_add.replace(" ADD", ",")
                )
                window, limit = f"{MINUTE} = :m", conditions
            try:
                response = self.client.update_item(
                    TableName=self.table,
                    Key=month_key(key.key_id, month_id),
                    UpdateExpression=update,
                    ConditionExpression=" AND ".join([window, *(c[0] for c in limit)]),
                    ExpressionAttributeValues={
                        **{k: {"N": str(v)} for c in limit for k, v in c[1].items()},
                        ":m": {"S": state.minute},
                        ":r": {"N": str(requests)},
                        ":t": {"N": str(tokens)},
                        **month_value,
                        ":exp": {"N": str(int(next_month) + 40 * 86400)},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise
                old = cast(dict[str, Any], exc.response.get("Item") or {})  # ALL_OLD
                at = str(old.get(MINUTE, {}).get("S", ""))
                if at > state.minute or (fresh and at == state.minute):
                    # another container started this minute (or one whose clock is ahead did)
                    fresh, state = False, replace(state, minute=at)
                    continue
                if not fresh and at < state.minute:  # the item is still at an older minute
                    fresh = True
                    continue
                raise self._rejection(key, old, state, tokens, stamp) from None
            item = response["Attributes"]
            counted = replace(
                state,
                requests_used=int(item[MINUTE_REQUESTS]["N"]),
                tokens_used=int(item[MINUTE_TOKENS]["N"]),
            )
            if len(self._seen) >= SEEN_KEYS:
                self._seen.clear()
            self._seen[key.key_id] = counted
            return counted
        raise RuntimeError("the quota item's minute kept moving")  # clocks minutes apart

    def _limit_conditions(
        self, key: ApiKey, requests: int, tokens: int, month_tokens: int, check: bool
    ) -> list[tuple[str, dict[str, int]]]:
        """The conditions (each with its values) for the limits this charge must fit; raises
        QuotaExceededError for a charge larger than a whole window."""
        limits = key.limits
        conditions: list[tuple[str, dict[str, int]]] = []
        if not check:
            return conditions
        _, stamp, state, _ = self._window()
        if month_tokens:
            room = (limits.monthly_tokens or 0) - max(month_tokens, 1)
            if room < 0:
                raise self._month_rejection(key, stamp, _EMPTY)
            conditions.append(
                ("(attribute_not_exists(tokens) OR tokens <= :mroom)", {":mroom": room})
            )
        if limits.rpm is not None and requests:
            conditions.append((f"{MINUTE_REQUESTS} < :rpm", {":rpm": limits.rpm}))
        if limits.tpm is not None and tokens:
            # Conditions cannot add, so compare with the room this request needs.
            room = limits.tpm - max(tokens, 1)
            if room < 0:
                raise QuotaExceededError(
                    TOKENS,
                    f"Request too large: {tokens} tokens requested, limit is {limits.tpm} "
                    "tokens per minute.",
                    state.reset_seconds,
                    replace(state, limits=limits),
                )
            conditions.append((f"{MINUTE_TOKENS} <= :room", {":room": room}))
        return conditions

    def _rejection(
        self,
        key: ApiKey,
        old: dict[str, Any],
        state: RateLimitState,
        tokens: int,
        stamp: datetime,
    ) -> QuotaExceededError:
        """Which limit refused the charge, from the item as it was (ALL_OLD)."""
        limits = key.limits
        same_minute = old.get(MINUTE, {}).get("S") == state.minute
        requests_used = int(old.get(MINUTE_REQUESTS, {"N": "0"})["N"]) if same_minute else 0
        tokens_used = int(old.get(MINUTE_TOKENS, {"N": "0"})["N"]) if same_minute else 0
        minute_full = same_minute and (
            (limits.rpm is not None and requests_used >= limits.rpm)
            or (limits.tpm is not None and tokens and tokens_used + tokens > limits.tpm)
        )
        now_state = replace(
            state, limits=limits, requests_used=requests_used, tokens_used=tokens_used
        )
        if minute_full:  # remembered: this container's next `peek` refuses without a write
            self._seen[key.key_id] = now_state
            return self._minute_rejection(key, old, now_state)
        return self._month_rejection(key, stamp, now_state)

    def _month_rejection(
        self, key: ApiKey, stamp: datetime, state: RateLimitState
    ) -> QuotaExceededError:
        budget = key.limits.monthly_tokens or 0
        _, next_month = _month_bounds(stamp)
        message = (
            f"Monthly token budget of {budget} tokens reached for {key.key_id}; "
            "it resets at the start of next month (UTC)."
        )
        return QuotaExceededError(MONTHLY, message, next_month - stamp.timestamp(), state)

    def _minute_rejection(
        self, key: ApiKey, old: dict[str, Any], state: RateLimitState
    ) -> QuotaExceededError:
        used_requests = int(old.get(MINUTE_REQUESTS, {"N": "0"})["N"])
        used_tokens = int(old.get(MINUTE_TOKENS, {"N": "0"})["N"])
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

    def _update_existing(
        self, key: dict[str, Any], expression: str, values: dict[str, int], minute: str = ""
    ) -> bool:
        """Apply the update if the item exists (and is at `minute`, when given)."""
        condition = f"attribute_exists({TTL_ATTRIBUTE})"
        attributes = {k: {"N": str(v)} for k, v in values.items()}
        if minute:
            condition += f" AND {MINUTE} = :m"
            attributes[":m"] = {"S": minute}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=attributes,
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            return False
        return True


_EMPTY = RateLimitState(Limits(), "", 0, 0, 0.0)
