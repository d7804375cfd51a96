"""A shard part's usage as one ledger record: its delivered lines, inputs and tokens summed.

A batch line is one item of one request (the batch), not a request of its own, so the ledger
gets one record per part of a shard (a shard is one part unless its run stopped short), not
one per line: at 500 lines a shard that is 1/500 of a write unit per line instead of one. The
record's id is derived from the batch, the shard and the part number, which the shard's
checkpoint fixes (a part is counted once, by one run), so a retried or redelivered shard
writes the same id and the ledger's conditional put counts it once. `requests` carries the
line count, so GET /v1/usage counts every line as a request, in the same day totals as
synchronous requests. Per-line detail stays in each output line's `response.body.usage`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TypeVar

from handler.batch.lines import LineResult
from handler.embeddings.pipeline import Prepared, usage_record
from handler.records import UsageRecord

T = TypeVar("T")
MIXED = "mixed"  # the encoding_format of a part whose lines asked for different ones


def part_usage_id(batch_id: str, shard: int, part: int) -> str:
    """The ledger's idempotency key of a shard's part (a line's is "<batch id>:<line>")."""
    return f"{batch_id}:shard:{shard}:part:{part}"


def _common(values: set[T]) -> T | None:
    return next(iter(values)) if len(values) == 1 else None


@dataclass
class PartUsage:
    """The sums of a part's delivered lines, and what they all share."""

    lines: int = 0
    inputs: int = 0
    tokens: int = 0
    truncated: int = 0
    pooled: int = 0
    latency_ms: float = 0.0
    first: Prepared | None = None
    models: set[str] = field(default_factory=set)
    requested: set[str] = field(default_factory=set)
    dimensions: set[int] = field(default_factory=set)
    requested_dimensions: set[int | None] = field(default_factory=set)
    encodings: set[str] = field(default_factory=set)
    users: set[str | None] = field(default_factory=set)

    def add(self, result: LineResult, latency_ms: float) -> None:
        """One delivered line (its output line is written to the part)."""
        line = result.prepared
        assert line is not None  # an answered line
        self.first = self.first or line
        self.lines += 1
        self.inputs += line.inputs
        self.tokens += line.prompt_tokens
        self.truncated += line.tokenized.truncated
        self.pooled += line.tokenized.pooled
        self.latency_ms += latency_ms
        # Sets stay tiny (a part's lines share a model, an encoding...); a varied `user`
        # is bounded by the part's lines, which are already in memory.
        self.models.add(line.model.id)
        self.requested.add(line.body.model)
        self.dimensions.add(line.dimensions)
        self.requested_dimensions.add(line.body.dimensions)
        self.encodings.add(line.body.encoding_format)
        self.users.add(line.body.user)

    def record(self, owner: str, batch_id: str, shard: int, part: int) -> UsageRecord | None:
        """The part's one ledger record; None when no line was delivered (nothing to bill).
        A field the lines do not all share is None (encoding_format: "mixed")."""
        if self.first is None:
            return None
        # The pipeline's record of the part's first line (the one place records are built),
        # with the part's sums, and only what every line shares.
        first = usage_record(
            self.first,
            part_usage_id(batch_id, shard, part),
            owner,  # ANONYMOUS when auth is off, as the ledger names it
            self.latency_ms,
            time.time(),  # the ledger stamps its own clock
        )
        return replace(
            first,
            model=_common(self.models) or MIXED,
            requested_model=_common(self.requested),
            prompt_tokens=self.tokens,
            total_tokens=self.tokens,
            inputs=self.inputs,
            dimensions=_common(self.dimensions),
            requested_dimensions=_common(self.requested_dimensions),
            encoding_format=_common(self.encodings) or MIXED,
            user=_common(self.users),
            truncated_inputs=self.truncated,
            pooled_inputs=self.pooled,
            requests=self.lines,
        )
