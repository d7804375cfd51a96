"""Day aggregates built from the usage table's stream (USAGE_AGGREGATION=stream), exactly once.

The hot path writes only a request item (one conditional PutItem); this adds the new items'
counts to the key's day aggregates, off the request path, in batches: one transaction per
up to MAX_GROUPS (key, day) sums, together with the stream shard's watermark, the sequence
number of the last record the transaction counts. Records arrive in order within a shard, so
a record at or below its shard's watermark is already counted:
  - a batch delivered again (an error after the commit, a bisected retry) counts nothing twice;
  - an aggregator that dies mid-batch committed whole transactions only (the watermark moved
    with them), and its retry counts just the rest;
  - the watermark update is conditional on the value read, so two invocations on one shard
    (which Lambda does not make) could not both count a record.
The stream itself has each request item's INSERT exactly once (its put is conditional), so
every recorded request is counted once, whatever the retries and replays before it.

Failure policy: a DynamoDB error propagates; the event source mapping retries the batch
(the watermark makes that safe) and bisects it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from handler.usage.store import DAY_SHARDS, PK, SK, TTL_ATTRIBUTE, Client, day_key, error_code
from handler.usage.writer import CONFLICT_ATTEMPTS, COUNTED_INLINE, backoff

MAX_GROUPS = 99  # (key, day) updates per transaction: DynamoDB takes 100 actions, 1 is the mark
SEQUENCE_DIGITS = 40  # stream sequence numbers are decimal strings of up to 40 digits
WATERMARK_TTL_SECONDS = 2 * 86400  # a stream keeps records 24 h: no redelivery after that
COUNTS = ("requests", "inputs", "prompt_tokens", "total_tokens")

Sums = dict[tuple[str, str], list[int]]  # (key_id, day) -> counts in COUNTS order


class WatermarkMovedError(RuntimeError):
    """Another invocation advanced the shard's watermark while this one was counting."""


def watermark_key(shard_id: str) -> dict[str, Any]:
    return {PK: {"S": f"STREAM#{shard_id}"}, SK: {"S": "SEQ"}}


def sequence(record: dict[str, Any]) -> str:
    """A stream record's sequence number, padded so that strings compare as numbers."""
    return str(record["dynamodb"]["SequenceNumber"]).zfill(SEQUENCE_DIGITS)


def counts_of(record: dict[str, Any]) -> tuple[str, str, list[int]] | None:
    """(key_id, day, counts) of a new request item; None for any other record."""
    if record.get("eventName") != "INSERT":
        return None
    image = record.get("dynamodb", {}).get("NewImage") or {}
    if not image.get(PK, {}).get("S", "").startswith("REQ#") or COUNTED_INLINE in image:
        return None  # not a request item, or one whose day aggregate was written with it
    counts = [1] + [int(image.get(name, {}).get("N", "0")) for name in COUNTS[1:]]
    return image["key_id"]["S"], image["day"]["S"], counts


def chunks(records: Sequence[dict[str, Any]]) -> Iterable[tuple[str, Sums]]:
    """The records in order, cut so that each piece has at most MAX_GROUPS (key, day) sums:
    (the last sequence number of the piece, its sums)."""
    sums: Sums = {}
    last = ""
    for record in records:
        found = counts_of(record)
        if found is not None:
            key_id, day, counts = found
            if (key_id, day) not in sums and len(sums) == MAX_GROUPS:
                yield last, sums
                sums = {}
            total = sums.setdefault((key_id, day), [0] * len(COUNTS))
            for index, value in enumerate(counts):
                total[index] += value
        last = sequence(record)
    if last:
        yield last, sums


class StreamAggregator:
    """Counts a stream shard's new request items into day aggregates, once."""

    def __init__(
        self,
        client: Client,
        table: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.table = table
        self.clock = clock
        self.sleep = sleep

    def apply(self, shard_id: str, records: Sequence[dict[str, Any]]) -> int:
        """Count the records above the shard's watermark; returns how many new request items
        were counted. Raises a DynamoDB ClientError as is."""
        mark = self.watermark(shard_id)
        fresh = [record for record in records if sequence(record) > mark]
        # Spread the aggregators of different stream shards over a key's day items, so
        # concurrent shards rarely meet on one item (readers sum the shards).
        day_shard = zlib.crc32(shard_id.encode()) % DAY_SHARDS
        counted = 0
        for last, sums in chunks(fresh):
            self._commit(shard_id, mark, last, sums, day_shard)
            mark = last
            counted += sum(counts[0] for counts in sums.values())
        return counted

    def watermark(self, shard_id: str) -> str:
        """The last sequence number counted for the shard ("" for none yet)."""
        item = self.client.get_item(
            TableName=self.table, Key=watermark_key(shard_id), ConsistentRead=True
        ).get("Item")
        return str(item["seq"]["S"]) if item else ""

    def _commit(self, shard_id: str, mark: str, last: str, sums: Sums, day_shard: int) -> None:
        condition = "attribute_not_exists(seq)" if not mark else "seq = :mark"
        values: dict[str, Any] = {
            ":last": {"S": last},
            ":exp": {"N": str(int(self.clock()) + WATERMARK_TTL_SECONDS)},
        }
        if mark:
            values[":mark"] = {"S": mark}
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": watermark_key(shard_id),
                    "UpdateExpression": f"SET seq = :last, {TTL_ATTRIBUTE} = :exp",
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        for (key_id, day), counts in sums.items():
            added = {
                f":{name}": {"N": str(value)} for name, value in zip(COUNTS, counts, strict=True)
            }
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": day_key(key_id, day, day_shard),
                        "UpdateExpression": "ADD "
                        + ", ".join(f"{name} :{name}" for name in COUNTS)
                        + " SET key_id = :k",
                        "ExpressionAttributeValues": {**added, ":k": {"S": key_id}},
                    }
                }
            )
        self._transact(items)

    def _transact(self, items: list[dict[str, Any]]) -> None:
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                reasons = [
                    str(r.get("Code")) for r in exc.response.get("CancellationReasons") or []
                ]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    raise WatermarkMovedError("the shard's watermark moved") from exc
                conflict = error_code(exc) == "TransactionCanceledException" and (
                    "TransactionConflict" in reasons or "TransactionConflict" in str(exc)
                )
                if not conflict or attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                self.sleep(backoff(attempt))
