"""Fairness between keys: at most `slots` shards of one key run at once, so one tenant's
batches cannot hold every worker (the worker function's concurrency is shared by all keys).

A running shard holds a slot item in the batch table until it ends, or until `seconds` pass
(longer than a worker invocation can live), so a worker that died frees its slot by itself:

    pk                 sk         what
    lease#<key id>     slot#<n>   holder (batch id:shard), until (epoch seconds), ttl

A shard that finds no free slot is queued again with a delay (handler/batch/worker.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from handler.batch import table
from handler.batch.items import to_item

SHARDS_PER_KEY = 4  # of the template's 10 worker slots (BatchWorkerConcurrency)
LEASE_SECONDS = 360  # a worker invocation lives at most 300 s (template.yaml)
WAIT_SECONDS = 30  # a shard with no free slot comes back after this


class ShardLeases:
    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        slots: int,
        seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table_name
        self.slots = slots
        self.seconds = seconds
        self.clock = clock

    def _key(self, owner: str, slot: int) -> dict[str, Any]:
        return to_item({"pk": f"lease#{owner}", "sk": f"slot#{slot}"})

    def acquire(self, owner: str, holder: str) -> int | None:
        """A free slot of `owner`'s, now held by `holder` (one it already holds counts);
        None when all are taken."""
        now = int(self.clock())
        for slot in range(self.slots):
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        **self._key(owner, slot),
                        **to_item(
                            {
                                "holder": holder,
                                "until": now + self.seconds,
                                table.TTL_ATTRIBUTE: now + self.seconds + 3600,
                            }
                        ),
                    },
                    ConditionExpression=(
                        "attribute_not_exists(pk) OR #until < :now OR holder = :holder"
                    ),
                    ExpressionAttributeNames={"#until": "until"},
                    ExpressionAttributeValues=to_item({":now": now, ":holder": holder}),
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                continue
            return slot
        return None

    def release(self, owner: str, slot: int, holder: str) -> None:
        """Free the slot, if `holder` still holds it (its lease ends now: the worker deletes
        nothing, and TTL removes the item)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(owner, slot),
                UpdateExpression="SET #until = :zero",
                ConditionExpression="holder = :holder",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=to_item({":holder": holder, ":zero": 0}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
