"""BatchStore: batch and shard items, and the conditional transitions that make a shard count
exactly once.

A shard is finished by one transaction: the shard's state goes pending -> done (or skipped,
after a cancel) AND its counts are added to the batch. A redelivered message finds the shard
no longer pending, the transaction is refused, and nothing is added twice. Status changes are
conditional on the status they leave, so two workers finalizing at once agree.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from handler.batch import table
from handler.batch.items import from_item, to_item
from handler.batch.parts import part_name

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
PENDING, DONE, SKIPPED = "pending", "done", "skipped"
SHARD_PROGRESS = ("offset", "next_line", "parts", "billed", "completed", "failed", "runs")
WINDOW_SECONDS = {"24h": 24 * 3600}
# Batch and shard items carry DynamoDB's TTL: their batch's window plus this (the service
# passes the files' retention, so a batch outlives none of its result files).
ITEM_SECONDS = 30 * 86400


def new_batch_id() -> str:
    return "batch_" + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class Shard:
    batch_id: str
    index: int
    start: int  # byte offsets [start, end) in the input file
    end: int
    first_line: int  # 1-based line number of the first line in the range
    state: str = PENDING
    # Progress (the checkpoint): the lines before `offset` (line `next_line` starts there)
    # are answered in `parts` durable parts; the usage of parts up to `billed` is recorded.
    offset: int = -1  # -1: not started (= start)
    next_line: int = 0
    parts: int = 0
    billed: int = 0
    completed: int = 0
    failed: int = 0
    runs: tuple[str, ...] = ()  # the run that wrote each counted part

    @property
    def part_names(self) -> list[str]:
        return [part_name(number, run) for number, run in enumerate(self.runs, start=1)]

    @property
    def position(self) -> tuple[int, int]:
        """(byte offset, line number) where the unanswered lines begin."""
        if self.offset < 0:
            return self.start, self.first_line
        return self.offset, self.next_line


def _conditional_failure(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


class BatchStore:
    def __init__(self, dynamodb: Any, table_name: str, item_seconds: int = ITEM_SECONDS) -> None:
        self.dynamodb = dynamodb
        self.table = table_name
        self.item_seconds = item_seconds  # an item's life after its batch's window ends

    def _key(self, batch_id: str, sk: str = table.META) -> dict[str, Any]:
        return to_item({"pk": table.batch_pk(batch_id), "sk": sk})

    def create(
        self,
        owner: str,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None,
    ) -> dict[str, Any]:
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
            if _conditional_failure(exc):
                return False
            raise
        return True

    def add_shards(self, batch_id: str, shards: list[Shard], ttl: int) -> None:
        """Record the plan's shard items (removed by DynamoDB's TTL at `ttl`, as their batch).
        A plan that runs again (its message redelivered) leaves shards that already exist
        alone, so a finished shard is never reset."""
        for shard in shards:
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item=to_item(
                        {
                            "pk": table.batch_pk(batch_id),
                            "sk": table.shard_sk(shard.index),
                            "start": shard.start,
                            "end": shard.end,
                            "first_line": shard.first_line,
                            "state": PENDING,
                            "parts": 0,
                            "billed": 0,
                            "runs": [],
                            "completed": 0,
                            "failed": 0,
                            table.TTL_ATTRIBUTE: ttl,
                        }
                    ),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                if not _conditional_failure(exc):
                    raise

    def get_shard(self, batch_id: str, index: int) -> Shard | None:
        found = self.dynamodb.get_item(
            TableName=self.table,
            Key=self._key(batch_id, table.shard_sk(index)),
            ConsistentRead=True,
        ).get("Item")
        if found is None:
            return None
        values = from_item(found)
        progress = {name: values[name] for name in SHARD_PROGRESS if name in values}
        progress["runs"] = tuple(progress.get("runs", ()))
        return Shard(
            batch_id,
            index,
            values["start"],
            values["end"],
            values["first_line"],
            values["state"],
            **progress,
        )

    def checkpoint(
        self, shard: Shard, run: str, offset: int, next_line: int, completed: int, failed: int
    ) -> bool:
        """Count part `shard.parts + 1`, written durably to S3 by `run`, as answered: its
        lines up to `offset` and its counts; False when another run counted it first."""
        return self._update_shard(
            shard.batch_id,
            shard.index,
            "SET #offset = :o, #next_line = :n, #parts = :p, #completed = #completed + :c, "
            "#failed = #failed + :f, #runs = list_append(#runs, :run)",
            "#state = :pending AND #parts = :was",
            {
                ":o": offset,
                ":n": next_line,
                ":p": shard.parts + 1,
                ":was": shard.parts,
                ":c": completed,
                ":f": failed,
                ":run": [run],
                ":pending": PENDING,
            },
        )

    def mark_billed(self, shard: Shard, part: int) -> None:
        """The usage of parts up to `part` is in the ledger."""
        self._update_shard(
            shard.batch_id, shard.index, "SET #billed = :p", "#billed < :p", {":p": part}
        )

    def _update_shard(
        self, batch_id: str, index: int, update: str, condition: str, values: dict[str, Any]
    ) -> bool:
        # Every attribute by a name placeholder: some (offset, state) are reserved words.
        names = {
            f"#{name}": name
            for name in SHARD_PROGRESS + ("state",)
            if f"#{name}" in update + condition
        }
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(batch_id, table.shard_sk(index)),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
            )
        except ClientError as exc:
            if _conditional_failure(exc):
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
            if not _conditional_failure(exc):
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
            if not _conditional_failure(exc):
                raise

    def mark_expired(self, batch_id: str) -> None:
        """Flag the batch as past its window; finalizing then ends it `expired`."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(batch_id),
            UpdateExpression="SET expired = :yes",
            ExpressionAttributeValues=to_item({":yes": True}),
        )

    def finish_shard(self, shard: Shard, state: str) -> bool:
        """Mark the shard `state` (done or skipped) and add its counts to the batch, in one
        transaction; False when the shard was already finished (a redelivery) or its progress
        moved since it was read."""
        batch_id, index = shard.batch_id, shard.index
        completed, failed = shard.completed, shard.failed
        try:
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self._key(batch_id, table.shard_sk(index)),
                            "UpdateExpression": "SET #s = :new",
                            "ConditionExpression": "#s = :pending AND parts = :parts",
                            "ExpressionAttributeNames": {"#s": "state"},
                            "ExpressionAttributeValues": to_item(
                                {":new": state, ":pending": PENDING, ":parts": shard.parts}
                            ),
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self._key(batch_id),
                            "UpdateExpression": "ADD shards_done :one, completed :c, failed :f",
                            "ExpressionAttributeValues": to_item(
                                {":one": 1, ":c": completed, ":f": failed}
                            ),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True
