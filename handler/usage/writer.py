"""Write a usage record and its daily aggregate together, exactly once.

One TransactWriteItems: Put the request item on condition that its request id is new, and
ADD the record's counts to the key's day item. A retry or a replay of a record already
written cancels the whole transaction on that condition, so nothing is counted twice.
Failure policy: any other DynamoDB error propagates to the caller (the recorder falls back
to the queue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from handler.usage.records import UsageRecord
from handler.usage.store import PK, TTL_ATTRIBUTE, Client, day_key, error_code, request_key

if TYPE_CHECKING:
    from handler.settings import Settings

WriteOutcome = Literal["written", "duplicate"]


def _optional(value: object, kind: str) -> dict[str, Any]:
    return {"NULL": True} if value is None else {kind: str(value)}


def _request_item(record: UsageRecord, ttl_seconds: int) -> dict[str, Any]:
    return {
        **request_key(record.request_id),
        "request_id": {"S": record.request_id},
        "key_id": {"S": record.key_id},
        "model": {"S": record.model},
        "prompt_tokens": {"N": str(record.prompt_tokens)},
        "total_tokens": {"N": str(record.total_tokens)},
        "inputs": {"N": str(record.inputs)},
        "dimensions": _optional(record.dimensions, "N"),
        "encoding_format": {"S": record.encoding_format},
        "user": _optional(record.user, "S"),
        "latency_ms": {"N": f"{record.latency_ms:.3f}"},
        "timestamp": {"N": f"{record.timestamp:.6f}"},
        "day": {"S": record.day},
        TTL_ATTRIBUTE: {"N": str(int(record.timestamp) + ttl_seconds)},
    }


def _is_duplicate(exc: ClientError) -> bool:
    if error_code(exc) != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons") or []
    if reasons:
        return bool(reasons[0].get("Code") == "ConditionalCheckFailed")
    # Some endpoints only put the reasons in the message: "[ConditionalCheckFailed, None]".
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return "[ConditionalCheckFailed" in message


class UsageWriter:
    """The usage table. `ttl_seconds` is how long per-request items live (aggregates stay)."""

    def __init__(self, client: Client, table: str, ttl_seconds: int) -> None:
        self.client = client
        self.table = table
        self.ttl_seconds = ttl_seconds

    @classmethod
    def from_settings(cls, client: Client, settings: Settings) -> UsageWriter:
        """The deployment's usage table and record TTL (the app, the replay function, the CLI)."""
        return cls(client, settings.usage_table, settings.usage_ttl_days * 86400)

    def write(self, record: UsageRecord) -> WriteOutcome:
        """Write once; "duplicate" when this request id was already recorded."""
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": _request_item(record, self.ttl_seconds),
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": PK},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": day_key(record.key_id, record.day),
                            "UpdateExpression": (
                                "ADD requests :one, inputs :n, prompt_tokens :p, "
                                "total_tokens :t SET key_id = :k"
                            ),
                            "ExpressionAttributeValues": {
                                ":one": {"N": "1"},
                                ":n": {"N": str(record.inputs)},
                                ":p": {"N": str(record.prompt_tokens)},
                                ":t": {"N": str(record.total_tokens)},
                                ":k": {"S": record.key_id},
                            },
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _is_duplicate(exc):
                return "duplicate"
            raise
        return "written"
