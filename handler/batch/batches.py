"""BatchStore: batch items and their conditional transitions (shard items: shards.py).

Status changes are conditional on the status they leave, so two workers finalizing at once
agree; `errors`, `expired` and the sweep's attempts are flags finalizing reads.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from handler.batch import table
from handler.batch.items import from_item, to_item

# Re-exported: the worker and the sweep name shard states as batches.PENDING etc.
from handler.batch.shards import DONE as DONE
from handler.batch.shards import PENDING as PENDING
from handler.batch.shards import SKIPPED as SKIPPED
from handler.batch.shards import Shard as Shard
from handler.batch.shards import ShardItems, conditional_failure

VALIDATING, IN_PROGRESS, FINALIZING = "validating", "in_progress", "finalizing"
COMPLETED = "completed"
FAILED, EXPIRED, CANCELLING, CANCELLED = "failed", "expired", "cancelling", "cancelled"
TERMINAL = (COMPLETED, FAILED, EXPIRED, CANCELLED)
# The timestamp field each status sets when entered (OpenAI's Batch object).
STAMP = {
    IN_PROGRESS: "in_progress_at",
    FINALIZING: "finalizing_at",
    COMPLETED: "completed_at",
    FAILED: "failed_at",
    EXPIRED: "expired_at",
    CANCELLING: "cancelling_at",
    CANCELLED: "cancelled_at",
}
WINDOW_SECONDS = {"24h": 24 * 3600}
# Batch and shard items carry DynamoDB's TTL: their batch's window plus this (the service
# passes the files' retention, so a batch outlives none of its result files).
ITEM_SECONDS = 30 * 86400


def new_batch_id() -> str:
    return "batch_" + uuid.uuid4().hex[:24]


class BatchStore(ShardItems):
    """Batch items (shard items: ShardItems)."""

    def __init__(self, dynamodb: Any, table_name: str, item_seconds: int = ITEM_SECONDS) -> None:
        self.dynamodb = dynamodb
        self.table = table_name
        self.item_seconds = item_seconds  # an item's life after its batch's window ends

    def create(
        self,
        owner: str,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None,
        key_hash: str | None = None,
        output_expires_after: int | None = None,
    ) -> dict[str, Any]:
        """Store a new batch (`validating`). `key_hash` is the owner key's (the keys table's
        key), so the worker can read the key's status and budget per shard in one GetItem;
        `output_expires_after`: seconds its result files live from their creation."""
        batch_id = new_batch_id()
        now = int(time.time())
        expires_at = now + WINDOW_SECONDS[completion_window]
        values: dict[str, Any] = {
            "pk": table.batch_pk(batch_id),
            "sk": table.META,
            "id": batch_id,
            "owner": owner,
            "owner_kind": table.owner_kind(owner, "batch"),
            "created": table.created_key(batch_id),
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": completion_window,
            "status": VALIDATING,
            "created_at": now,
            "expires_at": expires_at,
            table.TTL_ATTRIBUTE: expires_at + self.item_seconds,
            "total": 0,
            "completed": 0,
            "failed": 0,
            "shards_total": 0,
            "shards_done": 0,
            "metadata": metadata or None,
            "key_hash": key_hash,
            "output_expires_after": output_expires_after,
        }
        self.dynamodb.put_item(
            TableName=self.table,
            Item=to_item(values),
            ConditionExpression="attribute_not_exists(pk)",
        )
        return values

    def get(self, batch_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """The batch's item; None when missing or (given `owner`) not `owner`'s."""
        found = self.dynamodb.get_item(
            TableName=self.table, Key=self._key(batch_id), ConsistentRead=True
        ).get("Item")
        if found is None:
            return None
        values = from_item(found)
        return values if owner is None or values["owner"] == owner else None

    def page(self, owner: str, limit: int, after: str | None) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` of `owner`'s batches, newest first, after the batch id `after`."""
        anchor = None
        if after is not None:
            anchor = self.get(after, owner)
            if anchor is None:
                return [], False
        return table.owner_page(self.dynamodb, self.table, owner, "batch", limit, anchor)

    def in_flight(self, owner: str, now: float) -> int:
        """How many of `owner`'s batches have not ended. Only batches created within the
        longest window (and its expiry grace) are read: an older one has ended, or is left to
        the expiry sweep."""
        since = int((now - max(WINDOW_SECONDS.values()) - 3600) * 1_000_000)
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": table.OWNER_INDEX,
            "KeyConditionExpression": "owner_kind = :o AND created >= :since",
            "FilterExpression": "NOT #s IN (:c, :f, :e, :x)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": to_item(
                {
                    ":o": table.owner_kind(owner, "batch"),
                    ":since": f"{since:016d}",
                    ":c": COMPLETED,
                    ":f": FAILED,
                    ":e": EXPIRED,
                    ":x": CANCELLED,
                }
            ),
            "Select": "COUNT",
        }
        count = 0
        while True:
            page = self.dynamodb.query(**query)
            count += int(page["Count"])
            if "LastEvaluatedKey" not in page:
                return count
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def transition(
        self, batch_id: str, from_statuses: tuple[str, ...], to: str, **fields: Any
    ) -> bool:
        """Set status `to` (and its timestamp and `fields`) if the status is one of
        `from_statuses`; False when it was not."""
        values = {"status": to, **{k: v for k, v in fields.items() if v is not None}}
        if to in STAMP:
            values[STAMP[to]] = int(time.time())
        names = {f"#f{i}": name for i, name in enumerate(values)}
        sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(values)))
        expression_values = {f":v{i}": v for i, v in enumerate(values.values())}
        allowed = ", ".join(f":s{i}" for i in range(len(from_statuses)))
        expression_values.update({f":s{i}": s for i, s in enumerate(from_statuses)})
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(batch_id),
                UpdateExpression=f"SET {sets}",
                ConditionExpression=f"#f0 IN ({allowed})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(expression_values),
            )
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise
        return True

    def mark_failed(self, batch_id: str, errors: dict[str, Any]) -> None:
        """Give the batch OpenAI's `errors` (the first failure wins); finalizing then ends it
        `failed`, with the lines answered so far in its files."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(batch_id),
                UpdateExpression="SET errors = :e",
                ConditionExpression="attribute_not_exists(errors)",
                ExpressionAttributeValues=to_item({":e": errors}),
            )
        except ClientError as exc:
            if not conditional_failure(exc):
                raise

    def count_attempt(self, batch_id: str) -> int:
        """Add one to the batch's sweep attempts (before the attempt, so one that kills its
        process counts too); the number so far."""
        updated = self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(batch_id),
            UpdateExpression="ADD sweep_attempts :one",
            ExpressionAttributeValues=to_item({":one": 1}),
            ReturnValues="UPDATED_NEW",
        )
        return int(from_item(updated["Attributes"])["sweep_attempts"])

    def reset_attempts(self, batch_id: str) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(batch_id),
                UpdateExpression="SET sweep_attempts = :zero",
                ConditionExpression="attribute_exists(pk)",  # never a stub item
                ExpressionAttributeValues=to_item({":zero": 0}),
            )
        except ClientError as exc:
            if not conditional_failure(exc):
                raise

    def mark_expired(self, batch_id: str) -> None:
        """Flag the batch as past its window; finalizing then ends it `expired`."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(batch_id),
            UpdateExpression="SET expired = :yes",
            ExpressionAttributeValues=to_item({":yes": True}),
        )
