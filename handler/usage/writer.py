"""Write a usage record and its daily aggregate, exactly once.

With stream aggregation (the template's USAGE_AGGREGATION=stream), a record is one PutItem of
its request item on condition that its request id is new: 1 write unit, and a retry or replay
of a record already written fails the condition and counts nothing. The day aggregates are
built from the table's stream by handler/usage/aggregator.py. A batch's lines go in groups:
one transaction of their conditional puts.

Inline (tests, `make serve`): one TransactWriteItems: Put the request item on condition
that its request id is new, and ADD the record's counts to one of the key's day items
(store.DAY_SHARDS per day). A retry or a replay of a record already written cancels the whole
transaction on that condition, so nothing is counted twice. A batch's lines go in groups
(`write_group`): one transaction of their puts and one day update with their summed counts.

A busy key's requests all update its day items, and DynamoDB cancels a transaction that
meets another on the same item (TransactionConflict). botocore does not retry that, so the
writer does: a cancelled transaction applied nothing, and the conditional put keeps the retry
idempotent. Retries are few and jittered (full jitter, capped), so a hot key costs a request
at most about CONFLICT_ATTEMPTS * CONFLICT_CAP_SECONDS / 2 on average.
A record older than the request item's TTL is refused (RecordExpiredError): its request item
may already be gone, so nothing could tell a replay from a first write. Settings and the
template keep the TTL above the queues' retention; this guard covers replay from logs (kept
for up to ten years) and redriven dead letters.
Failure policy: any other DynamoDB error, or conflicts past the last attempt, propagate to
the caller (the recorder falls back to the queue).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError

from handler.records import UsageRecord
from handler.usage.store import (
    PK,
    TTL_ATTRIBUTE,
    Client,
    day_key,
    day_shard,
    error_code,
    request_key,
)

if TYPE_CHECKING:
    from handler.settings import Settings

WriteOutcome = Literal["written", "duplicate"]


class RecordWriter(Protocol):
    """Where a replay writes a record: this module's UsageWriter, or the Kinesis ledger's
    replay writer (handler/usage/stream_ledger.py)."""

    def write(self, record: UsageRecord) -> WriteOutcome: ...


class LedgerWriter(RecordWriter, Protocol):
    """Where the recorder writes: a request's record (`write`) and a batch's lines."""

    def write_group(self, records: Sequence[UsageRecord]) -> list[WriteOutcome]: ...


class RecordHeldError(ValueError):
    """A record a replay leaves where it is (the queue, its DLQ, the log) for a person:
    writing it could count it a second time."""


class RecordExpiredError(RecordHeldError):
    """The record is older than the usage TTL: writing it could count it a second time."""


# Records per group transaction (their puts and one day update). DynamoDB takes up to 100
# actions, but a big transaction is slow, and one timed out costs its whole group a retry.
GROUP_RECORDS = 25
CONFLICT_ATTEMPTS = 8  # transactions tried per record while they meet TransactionConflict
CONFLICT_BASE_SECONDS = 0.01  # backoff before retry n: uniform(0, min(cap, base * 2**n))
CONFLICT_CAP_SECONDS = 0.2


def _request_item(record: UsageRecord, ttl_seconds: int) -> dict[str, Any]:
    return {
        **request_key(record.request_id),
        **record.attributes(),
        "day": {"S": record.day},
        TTL_ATTRIBUTE: {"N": str(int(record.timestamp) + ttl_seconds)},
    }


# On a request item whose day aggregate was written with it (inline): the stream's aggregator
# skips it, so a deployment where some writer still runs inline (an operator's CLI replay
# without USAGE_AGGREGATION=stream) counts nothing twice.
COUNTED_INLINE = "inline"


def _conditional_put(record: UsageRecord, ttl_seconds: int, inline: bool) -> dict[str, Any]:
    item = _request_item(record, ttl_seconds)
    if inline:
        item[COUNTED_INLINE] = {"BOOL": True}
    return {
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#pk)",
        "ExpressionAttributeNames": {"#pk": PK},
    }


def _cancellation_codes(exc: ClientError) -> list[str]:
    """The per-item reasons of a cancelled transaction ("None" where an item was fine)."""
    if error_code(exc) != "TransactionCanceledException":
        return []
    reasons = exc.response.get("CancellationReasons") or []
    if reasons:
        return [str(reason.get("Code") or "None") for reason in reasons]
    # Some endpoints only put the reasons in the message: "... [ConditionalCheckFailed, None]".
    message = str(exc.response.get("Error", {}).get("Message", ""))
    listed = message.rpartition("[")[2].partition("]")[0]
    return [code.strip() for code in listed.split(",")] if listed else []


def _is_duplicate(exc: ClientError) -> bool:
    """A request item's put found its id already recorded (any of a group's puts)."""
    return "ConditionalCheckFailed" in _cancellation_codes(exc)


def _is_conflict(exc: ClientError) -> bool:
    """Cancelled only because another transaction held one of the items (nothing applied)."""
    codes = _cancellation_codes(exc)
    return "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt `attempt` (0-based): full jitter, capped."""
    ceiling: float = min(CONFLICT_CAP_SECONDS, CONFLICT_BASE_SECONDS * 2**attempt)
    return rand() * ceiling


class UsageWriter:
    """The usage table. `ttl_seconds` is how long per-request items live (aggregates stay)."""

    def __init__(
        self,
        client: Client,
        table: str,
        ttl_seconds: int,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        inline: bool = True,
    ) -> None:
        self.client = client
        self.inline = inline  # False: day aggregates come from the stream (aggregator.py)
        self.table = table
        self.ttl_seconds = ttl_seconds
        self.sleep = sleep
        self.clock = clock
        self.conflicts = 0  # TransactionConflict cancellations met (and retried or raised)

    @classmethod
    def from_settings(cls, client: Client, settings: Settings) -> UsageWriter:
        """The deployment's usage table and record TTL (the app, the replay function, the CLI)."""
        return cls(
            client,
            settings.usage_table,
            settings.usage_ttl_days * 86400,
            inline=settings.usage_aggregation == "inline",
        )

    def write(self, record: UsageRecord) -> WriteOutcome:
        """Write once; "duplicate" when this request id was already recorded. Raises the
        ClientError of the last attempt when conflicts outlast CONFLICT_ATTEMPTS, and
        RecordExpiredError for a record older than the TTL."""
        self.check_age(record)
        if not self.inline:
            return self._put(record)
        return self._apply(self._transaction([record]))

    def write_group(self, records: Sequence[UsageRecord]) -> list[WriteOutcome]:
        """Write up to GROUP_RECORDS records of one key and day in one transaction: their
        request items and one day-aggregate update with their summed counts (a batch's lines:
        half the write units of one transaction each, and one round trip). If any of them
        was already recorded (a shard run again), nothing of the group applied, so each is
        written alone, and only the new ones count. Raises as `write` does."""
        if not records:
            return []
        if len(records) > GROUP_RECORDS:
            raise ValueError(f"at most {GROUP_RECORDS} records per group, got {len(records)}")
        if len({(r.key_id, r.day) for r in records}) != 1:
            raise ValueError("a group's records share one key and one day")
        for record in records:
            self.check_age(record)
        if not self.inline and len(records) == 1:
            return [self._put(records[0])]
        if self._apply(self._transaction(records)) == "written":
            return ["written"] * len(records)
        return [self.write(record) for record in records]

    def check_age(self, record: UsageRecord) -> None:
        if record.timestamp + self.ttl_seconds <= self.clock():
            raise RecordExpiredError(
                f"record {record.request_id} is older than the {self.ttl_seconds} s usage TTL"
            )

    def _put(self, record: UsageRecord) -> WriteOutcome:
        """The request item alone, on condition that its id is new (1 write unit)."""
        try:
            self.client.put_item(
                TableName=self.table, **_conditional_put(record, self.ttl_seconds, inline=False)
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return "duplicate"
            raise
        return "written"

    def _apply(self, items: list[dict[str, Any]]) -> WriteOutcome:
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if _is_duplicate(exc):
                    return "duplicate"
                if not _is_conflict(exc):
                    raise
                self.conflicts += 1
                if attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                self.sleep(backoff(attempt))
            else:
                return "written"
        raise AssertionError("unreachable")  # the loop returns or raises

    def _transaction(self, records: Sequence[UsageRecord]) -> list[dict[str, Any]]:
        """The records' conditional puts, then one update adding their counts to the first
        record's day-aggregate shard."""
        first = records[0]
        puts = [
            {
                "Put": {
                    "TableName": self.table,
                    **_conditional_put(record, self.ttl_seconds, self.inline),
                }
            }
            for record in records
        ]
        if not self.inline:
            return puts
        added = {
            ":one": sum(r.requests for r in records),
            ":n": sum(r.inputs for r in records),
            ":p": sum(r.prompt_tokens for r in records),
            ":t": sum(r.total_tokens for r in records),
        }
        return [
            *puts,
            {
                "Update": {
                    "TableName": self.table,
                    "Key": day_key(first.key_id, first.day, day_shard(first.request_id)),
                    "UpdateExpression": (
                        "ADD requests :one, inputs :n, prompt_tokens :p, "
                        "total_tokens :t SET key_id = :k"
                    ),
                    "ExpressionAttributeValues": {
                        **{name: {"N": str(value)} for name, value in added.items()},
                        ":k": {"S": first.key_id},
                    },
                }
            },
        ]
