"""Shard items: the plan's byte ranges, each run's checkpoint, and the transaction that makes a
shard count exactly once.

A run counts its part with a conditional update (the shard still pending, with the parts it
read), then bills it. A shard is finished by one transaction: its state goes pending -> done
(or skipped, after a cancel) AND its counts are added to the batch. A redelivered message
finds the shard no longer pending, the transaction is refused, and nothing is added twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from handler.batch.items import from_item, to_item
from handler.batch.parts import part_name
from handler.batch.table import META, TTL_ATTRIBUTE, batch_pk, shard_sk

PENDING, DONE, SKIPPED = "pending", "done", "skipped"
SHARD_PROGRESS = (
    "offset", "next_line", "parts", "billed", "completed", "failed", "tokens", "runs"
)  # fmt: skip


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
    tokens: int = 0  # the input tokens of its delivered lines (the Batch object's usage)
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


def conditional_failure(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


class ShardItems:
    """The shard items of the batch table (BatchStore inherits them)."""

    dynamodb: Any
    table: str

    def _key(self, batch_id: str, sk: str = META) -> dict[str, Any]:
        return to_item({"pk": batch_pk(batch_id), "sk": sk})

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
                            "pk": batch_pk(batch_id),
                            "sk": shard_sk(shard.index),
                            "start": shard.start,
                            "end": shard.end,
                            "first_line": shard.first_line,
                            "state": PENDING,
                            "parts": 0,
                            "billed": 0,
                            "runs": [],
                            "completed": 0,
                            "failed": 0,
                            "tokens": 0,
                            TTL_ATTRIBUTE: ttl,
                        }
                    ),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                if not conditional_failure(exc):
                    raise

    def get_shard(self, batch_id: str, index: int) -> Shard | None:
        found = self.dynamodb.get_item(
            TableName=self.table,
            Key=self._key(batch_id, shard_sk(index)),
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
        self,
        shard: Shard,
        run: str,
        offset: int,
        next_line: int,
        completed: int,
        failed: int,
        tokens: int = 0,
    ) -> bool:
        """Count part `shard.parts + 1`, written durably to S3 by `run`, as answered: its
        lines up to `offset` and its counts; False when another run counted it first."""
        return self._update_shard(
            shard.batch_id,
            shard.index,
            "SET #offset = :o, #next_line = :n, #parts = :p, #completed = #completed + :c, "
            "#failed = #failed + :f, #runs = list_append(#runs, :run), "
            # A shard planned before tokens were counted has none yet.
            "#tokens = if_not_exists(#tokens, :zero) + :t",
            "#state = :pending AND #parts = :was",
            {
                ":o": offset,
                ":n": next_line,
                ":p": shard.parts + 1,
                ":was": shard.parts,
                ":c": completed,
                ":f": failed,
                ":t": tokens,
                ":zero": 0,
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
                Key=self._key(batch_id, shard_sk(index)),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
            )
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise
        return True

    def finish_shard(self, shard: Shard, state: str) -> bool:
        """Mark the shard `state` (done or skipped) and add its counts to the batch, in one
        transaction; False when the shard was already finished (a redelivery) or its progress
        moved since it was read."""
        batch_id, index = shard.batch_id, shard.index
        completed, failed, tokens = shard.completed, shard.failed, shard.tokens
        try:
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self._key(batch_id, shard_sk(index)),
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
                            "UpdateExpression": (
                                "ADD shards_done :one, completed :c, failed :f, tokens :t"
                            ),
                            "ExpressionAttributeValues": to_item(
                                {":one": 1, ":c": completed, ":f": failed, ":t": tokens}
                            ),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise
        return True
