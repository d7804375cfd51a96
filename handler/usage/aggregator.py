"""Day aggregates built from the usage table's stream (USAGE_AGGREGATION=stream), exactly once.

The hot path writes only a request item (one conditional PutItem); this adds the new items'
counts to the key's day aggregates, off the request path, in batches: per stream shard, one
day item per key and day (`DAY#<date>#<shard id>`; readers sum a day's items), updated by one
UpdateItem per batch that ADDs the batch's counts for it and sets `seq`, the sequence number of
the last record it counts, on condition that `seq` is below the first record it adds. Records
of one shard arrive in order, and only that shard's records reach that item, so:
  - a batch delivered again (an error after some updates, a bisected retry) fails the
    condition where it was counted; the item as it was (ALL_OLD) says up to which record, and
    only the records after it are added;
  - an aggregator that dies mid-batch applied whole updates only, each with its `seq`;
  - two invocations on one shard (which Lambda does not make) could not both count a record.
The stream has each request item's INSERT exactly once (its put is conditional), so every
recorded request is counted once, whatever the retries and replays before it. A batch costs
one write unit per (key, day) it touches, not per request.

Failure policy: a DynamoDB error propagates; the event source mapping retries the batch
(the conditions make that safe) and bisects it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from botocore.exceptions import ClientError

from handler.usage.store import PK, Client, day_stream_key, error_code
from handler.usage.writer import COUNTED_INLINE

SEQUENCE_DIGITS = 40  # stream sequence numbers are decimal strings of up to 40 digits
COUNTS = ("requests", "inputs", "prompt_tokens", "total_tokens")
ATTEMPTS = 3  # updates per item and batch: the first, then one per condition that told more

Entry = tuple[str, list[int]]  # (padded sequence number, counts in COUNTS order)


class WatermarkMovedError(RuntimeError):
    """An item's `seq` kept moving while this invocation counted (two on one shard)."""


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
    # A record written before `requests` existed counts one request.
    counts = [
        int(image.get(name, {}).get("N", "1" if name == "requests" else "0")) for name in COUNTS
    ]
    return image["key_id"]["S"], image["day"]["S"], counts


def groups(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[Entry]]:
    """The request items' counts per (key_id, day), each in sequence order (Lambda delivers
    a shard's records in order the first time, not always when it delivers them again)."""
    found: dict[tuple[str, str], list[Entry]] = {}
    for record in records:
        counted = counts_of(record)
        if counted is not None:
            key_id, day, counts = counted
            found.setdefault((key_id, day), []).append((sequence(record), counts))
    return {group: sorted(entries) for group, entries in found.items()}


class StreamAggregator:
    """Counts a stream shard's new request items into day aggregates, once."""

    def __init__(self, client: Client, table: str) -> None:
        self.client = client
        self.table = table

    def apply(self, shard_id: str, records: Sequence[dict[str, Any]]) -> int:
        """Count the batch's request items not yet counted; returns how many were. Raises a
        DynamoDB ClientError as is."""
        return sum(
            self.add(key_id, day, shard_id, entries)
            for (key_id, day), entries in groups(records).items()
        )

    def add(self, key_id: str, day: str, shard_id: str, entries: list[Entry]) -> int:
        """Add the entries (in sequence order) above the day item's `seq`; returns how many
        were added. Also the Kinesis ledger's counter's (stream_counter.py)."""
        for _ in range(ATTEMPTS):
            totals = [sum(counts[i] for _, counts in entries) for i in range(len(COUNTS))]
            values = {f":{name}": {"N": str(v)} for name, v in zip(COUNTS, totals, strict=True)}
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=day_stream_key(key_id, day, shard_id),
                    UpdateExpression="ADD "
                    + ", ".join(f"{name} :{name}" for name in COUNTS)
                    + " SET seq = :last, key_id = :k",
                    ConditionExpression="attribute_not_exists(seq) OR seq < :first",
                    ExpressionAttributeValues={
                        **values,
                        ":first": {"S": entries[0][0]},
                        ":last": {"S": entries[-1][0]},
                        ":k": {"S": key_id},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return len(entries)
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                old = cast(dict[str, Any], exc.response.get("Item") or {})
                counted = str(old.get("seq", {}).get("S", ""))
                entries = [entry for entry in entries if entry[0] > counted]
                if not entries:  # all of them were counted by an earlier delivery
                    return 0
        raise WatermarkMovedError(f"{key_id} {day}: the day item's seq kept moving")
