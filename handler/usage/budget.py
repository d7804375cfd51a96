"""Batch lines against their key's monthly token budget: admission per group of lines.

Batch work is charged to the monthly budget (the `MON#<month>` counter the synchronous route
also charges) and not to the per-minute limits: RPM and TPM pace the synchronous path, and
a batch is paced by the worker queue instead (see docs/keys-quotas-usage.md, Quotas).

A group of lines (the worker's model pass) is admitted in one DynamoDB transaction: an
admission item `ADMIT#<batch id>` / `LINE#<first line>` recording which lines were admitted
and the tokens charged, put only if it does not exist, together with the conditional ADD to
the month's counter. A shard run again finds the item and gets the same answer without
charging twice, as long as it groups the same lines (the worker's groups are a pure function
of the shard's bytes; a rerun that groups them otherwise is never charged twice, at the price
of refusing the lines past a stored group). Lines that do not fit the budget left are
refused (the worker answers them with OpenAI's `insufficient_quota` line error); lines are
taken in order, each one that still fits. `refund` gives a group's charge back (lines
admitted, then not delivered).

Failure policy: DynamoDB errors propagate (the shard's message is retried).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from handler.usage.keys import ApiKey
from handler.usage.store import TTL_ATTRIBUTE, Client, error_code, month_key

ADMIT_PREFIX = "ADMIT#"
MAX_TRIES = 8  # other workers of the same key moved the counter; re-read and try again


def _line(number: int) -> str:
    return f"LINE#{number:09d}"  # padded: sort keys order as the line numbers


def admission_key(batch_id: str, first_line: int) -> dict[str, Any]:
    return {"pk": {"S": f"{ADMIT_PREFIX}{batch_id}"}, "sk": {"S": _line(first_line)}}


def _month(now: float) -> tuple[str, int]:
    """Month id and the counter's expiry (40 days after the month ends), as quotas.py."""
    stamp = datetime.fromtimestamp(now, UTC)
    year, month = (stamp.year + 1, 1) if stamp.month == 12 else (stamp.year, stamp.month + 1)
    next_month = int(datetime(year, month, 1, tzinfo=UTC).timestamp())
    return stamp.strftime("%Y-%m"), next_month + 40 * 86400


class LineBudget:
    """Monthly-budget admission of batch lines (see the module docstring)."""

    def __init__(self, client: Client, table: str, clock: Callable[[], float] = time.time):
        self.client = client
        self.table = table
        self.clock = clock

    def spent(self, key: ApiKey) -> bool:
        """True when the key has a monthly budget and nothing of it is left this month."""
        budget = key.limits.monthly_tokens
        if budget is None:
            return False
        return self._used(key) >= budget

    def admit(
        self, key: ApiKey, batch_id: str, first_line: int, tokens: Sequence[int]
    ) -> list[bool]:
        """Which of a group's lines (their prompt tokens, in order) may run; charges the
        admitted lines' tokens to the month once, whatever the number of calls."""
        budget = key.limits.monthly_tokens
        if budget is None:
            return [True] * len(tokens)
        item_key = admission_key(batch_id, first_line)
        for _ in range(MAX_TRIES):
            found = self._admission(item_key)
            if found is not None:  # admitted before: the same answer, not charged again
                # (a rerun that grouped its lines otherwise gets no line charged twice:
                # lines past the stored group are refused)
                return (found + [False] * len(tokens))[: len(tokens)]
            room = budget - self._used(key)
            admitted = []
            for count in tokens:
                fits = 0 < count <= room
                room -= count if fits else 0
                admitted.append(fits)
            if self._charge(key, item_key, tokens, admitted, budget):
                return admitted
        raise RuntimeError(f"monthly budget of {key.key_id} kept moving; admission retried")

    def refund(self, key: ApiKey, batch_id: str, first_line: int) -> None:
        """Give back what `admit` charged for the group (its lines were not delivered); a
        no-op when there is nothing to give back or it was given back already."""
        item_key = admission_key(batch_id, first_line)
        item = self.client.get_item(TableName=self.table, Key=item_key, ConsistentRead=True)
        found = item.get("Item")
        if found is None:
            return
        charged, month = found["charged"]["N"], found["month"]["S"]
        actions: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": item_key,
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
        ]
        if int(charged):
            actions.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": month_key(key.key_id, month),
                        "UpdateExpression": "ADD tokens :t",
                        "ConditionExpression": f"attribute_exists({TTL_ATTRIBUTE})",
                        "ExpressionAttributeValues": {":t": {"N": str(-int(charged))}},
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            # Refunded meanwhile, or the month's counter expired: nothing left to give back.

    def refund_from(self, key: ApiKey, batch_id: str, first_line: int, end_line: int | None) -> int:
        """Give back every group admitted from line `first_line` up to `end_line` (exclusive;
        None: to the batch's end): a stopped shard's groups whose lines were never delivered.
        Returns how many groups were refunded."""
        bounds = {":pk": {"S": f"{ADMIT_PREFIX}{batch_id}"}, ":from": {"S": _line(first_line)}}
        condition = "pk = :pk AND sk >= :from"
        if end_line is not None:
            if end_line <= first_line:
                return 0
            condition = "pk = :pk AND sk BETWEEN :from AND :to"
            bounds[":to"] = {"S": _line(end_line - 1)}
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": bounds,
            "ProjectionExpression": "sk",
            "ConsistentRead": True,
        }
        firsts: list[int] = []
        while True:
            page = self.client.query(**request)
            firsts += [int(item["sk"]["S"].removeprefix("LINE#")) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for first in firsts:
            self.refund(key, batch_id, first)
        return len(firsts)

    def _used(self, key: ApiKey) -> int:
        month, _ = _month(self.clock())
        found = self.client.get_item(
            TableName=self.table, Key=month_key(key.key_id, month), ConsistentRead=True
        ).get("Item")
        return int(found["tokens"]["N"]) if found and "tokens" in found else 0

    def _admission(self, item_key: dict[str, Any]) -> list[bool] | None:
        found = self.client.get_item(TableName=self.table, Key=item_key, ConsistentRead=True).get(
            "Item"
        )
        if found is None:
            return None
        return [flag == "1" for flag in found["admitted"]["S"]]

    def _charge(
        self,
        key: ApiKey,
        item_key: dict[str, Any],
        tokens: Sequence[int],
        admitted: list[bool],
        budget: int,
    ) -> bool:
        """One transaction: the admission item and the month's ADD; False when another
        worker moved the counter (or wrote the item) first."""
        month, expires_at = _month(self.clock())
        charged = sum(count for count, ok in zip(tokens, admitted, strict=True) if ok)
        mask = "".join("1" if ok else "0" for ok in admitted)
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **item_key,
                        "key_id": {"S": key.key_id},
                        "month": {"S": month},
                        "charged": {"N": str(charged)},
                        "admitted": {"S": mask},
                        TTL_ATTRIBUTE: {"N": str(expires_at)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if charged:
            actions.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": month_key(key.key_id, month),
                        "UpdateExpression": f"ADD tokens :t SET {TTL_ATTRIBUTE} = :exp",
                        "ConditionExpression": "attribute_not_exists(tokens) OR tokens <= :room",
                        "ExpressionAttributeValues": {
                            ":t": {"N": str(charged)},
                            ":room": {"N": str(budget - charged)},
                            ":exp": {"N": str(expires_at)},
                        },
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            return False
        return True
