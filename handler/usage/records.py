"""The usage record of one successful embeddings request, and its JSON form for the queue."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class UsageRecord:
    request_id: str  # stable across retried invocations of the same HTTP request
    key_id: str
    model: str
    prompt_tokens: int
    total_tokens: int
    inputs: int
    dimensions: int | None
    encoding_format: str
    user: str | None
    latency_ms: float
    timestamp: float  # epoch seconds (UTC) when the request finished

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.timestamp, UTC).strftime("%Y-%m-%d")

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, body: str) -> UsageRecord:
        """Parse a queued record; raises ValueError on a malformed body."""
        try:
            raw: dict[str, Any] = json.loads(body)
            names = {f.name for f in fields(cls)}
            return cls(**{name: raw[name] for name in names})
        except (TypeError, KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a usage record: {exc}") from exc
