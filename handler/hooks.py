"""The seams where API keys and usage accounting plug into the app.

`create_app(..., authenticator=..., recorder=...)` takes both. Until the usage module wires
its own, requests are anonymous and usage records go nowhere. The seams carry values, never
the Starlette Request: the usage module imports no web framework.

- An Authenticator is called once per request, on every route, with the request's
  Credentials; it returns the Caller (key_id None when auth is off) or raises an APIError
  (401/429), which is rendered in OpenAI's envelope.
- The Caller goes down to the Meter and the Limiter and back: they update its quota state and
  its `headers` (x-ratelimit-*), which go out on the response whatever its status.
- Every hook may block (DynamoDB round trips), so they are plain functions: the app calls
  them through handler/offload.py, on a worker thread under uvicorn so the event loop stays
  free, inline on Lambda (one request per container).
- A UsageReport answers GET /v1/usage (handler/routes/usage.py); without one the route is
  not served.
- A UsageRecorder gets one UsageRecord per successful embeddings response, after the response
  body is built (so a 413 or a failure is never billed) and before it is returned. If
  `record` raises, the client gets a 500 and no vectors. What it returns (the usage
  outcome: written, duplicate, queued or logged; None for none) becomes a metric.
- The Authenticator also counts the request against the key's RPM, on every route: every
  client-callable route counts, and a request refused later still counts.
- A Limiter charges the tokens (TPM, monthly budget) before the model runs and returns a
  Refund; any error after that (413, model error, exception) calls it, so a request that gets
  no vectors is not charged tokens.
- A Meter refuses tokenizing past the key's TPM, counts a refused request's tokens, and
  refuses a batch when the monthly budget is spent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from handler.records import UsageRecord

__all__ = ["UsageRecord"]  # the one record type (handler/records.py), for the seams


class UsageRecorder(Protocol):
    def record(self, usage: UsageRecord) -> str | None: ...


class NullRecorder:
    def record(self, usage: UsageRecord) -> str | None:
        return None


@dataclass(frozen=True)
class Credentials:
    """What a request presents to the Authenticator."""

    authorization: str | None  # the Authorization header, as sent
    path: str  # the request's path: an embeddings request is counted with its tokens


@dataclass
class Caller:
    """Who is calling, as the Authenticator found them, carried to the Meter and the Limiter.

    `quota` is the usage module's own state for this request (opaque to the app); `headers`
    are the x-ratelimit-* the answer carries, updated by each quota step."""

    key_id: str | None = None  # None: auth is off
    key_hash: str | None = None  # kept with a batch, for the worker's key check
    quota: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Authenticator = Callable[[Credentials], Caller]

# Gives back what a Limiter charged, for a request that then returns no embeddings (a 413,
# a model error, any exception). Never raises.
Refund = Callable[[], None]

# Called after tokenizing, before the model runs, with the request's prompt tokens; raises an
# APIError (429) over a quota. It updates the Caller's headers, whatever the outcome. Returns
# the Refund of what it charged (None: nothing).
Limiter = Callable[[Caller, int], Refund | None]


class Meter(Protocol):
    """The quota checks around the Limiter. Each may block (DynamoDB) and raises an
    APIError (429) when refused."""

    def before_tokenizing(self, caller: Caller) -> None:
        """Before an embeddings request is tokenized: a 429 when the key's tokens for this
        minute are already spent, so no key makes the service tokenize past its TPM."""

    def refused(self, caller: Caller, tokens: int) -> None:
        """A request refused after tokenizing (an input too long): its tokens still count
        against the key's TPM. Never raises for DynamoDB (the client's 400 matters more)."""

    def settle(self, caller: Caller) -> None:
        """An embeddings request that failed before its tokens were charged: it still counts
        against the key's RPM. Never raises for DynamoDB."""

    def budget_left(self, caller: Caller) -> None:
        """Before a batch is created: a 429 insufficient_quota when the key's monthly budget
        is spent."""


class NoMeter:
    def before_tokenizing(self, caller: Caller) -> None:
        return None

    def refused(self, caller: Caller, tokens: int) -> None:
        return None

    def settle(self, caller: Caller) -> None:
        return None

    def budget_left(self, caller: Caller) -> None:
        return None


# GET /v1/usage: (the caller's key id, the query's (name, value) pairs) -> the response body;
# raises an APIError (400) for a bad parameter. Blocking (DynamoDB reads).
UsageReport = Callable[[str | None, list[tuple[str, str]]], dict[str, Any]]


def no_auth(credentials: Credentials) -> Caller:
    return Caller()


def no_limits(caller: Caller, prompt_tokens: int) -> Refund | None:
    return None
