"""The usage record of one successful embeddings request, and its JSON form for the queue.

A record's size is bounded by construction, whatever reaches it: every string field has a
character limit (the request model refuses a longer `user` or `model` with a 400 first; a
record cuts or hashes what gets past), and the numbers are counts. So the largest record is
a few kilobytes, far inside DynamoDB's 400 KB item, SQS's 256 KiB message and a CloudWatch
log event (tests/usage/test_record_size.py computes each).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

# The request model's limits (handler/embedding_request.py refuses longer values with a 400),
# repeated rather than imported: the replay function runs without the dependency layer, so
# this module must not pull in pydantic. tests/usage/test_record_size.py keeps them equal.
MAX_USER_CHARS = 256  # OpenAI's `user` is a short end-user id
MAX_MODEL_CHARS = 256  # records hold the served id
MAX_REQUEST_ID_CHARS = 128  # API Gateway's ids are 36-40; a longer one is hashed
MAX_KEY_ID_CHARS = 64  # ours: "key_" + 16 hex, or "anonymous"
MAX_ENCODING_CHARS = 16  # a name in handler/encodings.py (the longest, "ubinary", is 7)


def bounded_request_id(request_id: str) -> str:
    """The id itself when short enough, else a digest of it: still unique and stable, so a
    retry or a replay of the same request keeps the same id (the exactly-once key)."""
    if len(request_id) <= MAX_REQUEST_ID_CHARS:
        return request_id
    return "sha256:" + hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).hexdigest()


ANONYMOUS = "anonymous"  # the key id usage is recorded under when auth is off
MAX_PRODUCER_CHARS = 32  # ours: 16 url-safe characters (stream_ledger.PRODUCER_ID_BYTES)
# Fields only the stream ledger's records carry; a DynamoDB request item leaves them out.
STREAM_ONLY = ("producer", "producer_seq")


@dataclass(frozen=True)
class UsageRecord:
    """One successful embeddings request, as the route builds it, the ledger writes it to
    DynamoDB, the fallback queues it and replay reads it back: one type, one field table.

    Fields with a default were added after the first release: a record queued or logged by
    an older version lacks them and still decodes (`from_json`)."""

    request_id: str  # stable across retried invocations of the same HTTP request
    key_id: str  # the caller's key id, ANONYMOUS when auth is off
    model: str  # the served model id
    prompt_tokens: int
    total_tokens: int
    inputs: int
    dimensions: int | None  # of the returned vectors
    encoding_format: str
    user: str | None
    latency_ms: float  # from request arrival to response body built
    timestamp: float  # epoch seconds (UTC) when the request finished
    requested_model: str | None = None  # what the client asked for (an alias, perhaps)
    truncated_inputs: int = 0  # inputs cut to the model's window (LONG_INPUTS=truncate)
    pooled_inputs: int = 0  # inputs embedded as several windows (LONG_INPUTS=pool)
    # The requests this record counts: 1 for a synchronous request, a batch shard part's
    # delivered lines for its one record (handler/batch/metering.py).
    requests: int = 1
    requested_dimensions: int | None = None  # the request's `dimensions`; None: not sent
    # Set by the Kinesis ledger (handler/usage/stream_ledger.py): the container that put the
    # record and the record's number in its sequence, which the counter dedupes by.
    producer: str | None = None
    producer_seq: int = 0

    def __post_init__(self) -> None:
        # Bound every string by construction (a frozen dataclass: set through object).
        bounded = {
            "request_id": bounded_request_id(self.request_id),
            "key_id": self.key_id[:MAX_KEY_ID_CHARS],
            "model": self.model[:MAX_MODEL_CHARS],
            "encoding_format": self.encoding_format[:MAX_ENCODING_CHARS],
            "user": None if self.user is None else self.user[:MAX_USER_CHARS],
            "producer": None if self.producer is None else self.producer[:MAX_PRODUCER_CHARS],
            "requested_model": None
            if self.requested_model is None
            else self.requested_model[:MAX_MODEL_CHARS],
        }
        for name, value in bounded.items():
            if value != getattr(self, name):
                object.__setattr__(self, name, value)

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.timestamp, UTC).strftime("%Y-%m-%d")

    def attributes(self) -> dict[str, dict[str, Any]]:
        """Every field as a DynamoDB attribute (S, N or NULL), under its own name."""
        return {
            f.name: _attribute(getattr(self, f.name))
            for f in fields(self)
            if f.name not in STREAM_ONLY
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, body: str) -> UsageRecord:
        """Parse a queued or logged record, from this version or an older one (missing
        fields that have defaults take them; unknown ones, from a newer version, are
        ignored); raises ValueError on a malformed body."""
        try:
            raw: dict[str, Any] = json.loads(body)
            known = {f.name for f in fields(cls)}
            return cls(**{name: value for name, value in raw.items() if name in known})
        except (TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a usage record: {exc}") from exc


def _attribute(value: object) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, float):
        return {"N": f"{value:.6f}"}  # fixed point: DynamoDB takes no "1e-07"
    return {"N": str(value)}


# The record fields copied from the request as sent: record field -> request attribute
# (handler/embedding_request.py). The pipeline (handler/embeddings/pipeline.py) fills them
# from this table, so recording another request field is this entry and the record field.
REQUEST_FIELDS = {
    "requested_model": "model",
    "requested_dimensions": "dimensions",
    "encoding_format": "encoding_format",
    "user": "user",
}
