"""The batch table's layout: one DynamoDB table holds files, batches and shards.

    pk                 sk            what
    file#<file id>     meta          a file: owner, bytes, filename, purpose, S3 key
    batch#<batch id>   meta          a batch: owner, status, counts, timestamps, shard totals
    batch#<batch id>   shard#00001   a shard: byte range, first line, state, its counts

Files and batches also carry `owner_kind` ("<key id>#file" or "<key id>#batch") and
`created` ("<microseconds since 1970, 16 digits>#<id>"), the keys of the OWNER_INDEX GSI that
lists one key's files or batches newest first. Ownership is checked on every read: another
key's item is a 404. The STATUS_INDEX GSI (`status` x `expires_at`, keys only) holds batch items
alone (nothing else has a `status`): the expiry sweep's "open batches past their window".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from handler.batch.items import from_item, to_item
from handler.records import ANONYMOUS  # the owner when auth is off, as the ledger says

META = "meta"
# DynamoDB's TTL attribute (template.yaml): file, batch, shard, upload and part items carry it.
# A batch's `expires_at` is its completion window, not its item's lifetime, so TTL cannot use
# that name.
TTL_ATTRIBUTE = "ttl"
OWNER_INDEX = "owner-created"
STATUS_INDEX = "status-expires"


def owner_of(key_id: str | None) -> str:
    return key_id or ANONYMOUS


def file_pk(file_id: str) -> str:
    return f"file#{file_id}"


def batch_pk(batch_id: str) -> str:
    return f"batch#{batch_id}"


def shard_sk(index: int) -> str:
    return f"shard#{index:05d}"


def owner_kind(owner: str, kind: str) -> str:
    return f"{owner}#{kind}"


def created_key(item_id: str) -> str:
    """Microseconds, so items made within one second still list in creation order."""
    return f"{time.time_ns() // 1000:016d}#{item_id}"


def create_table(client: Any, name: str) -> None:
    """Create the table (on-demand) and wait until it is active; template.yaml declares the
    same layout for AWS."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            *(
                {"AttributeName": attr, "AttributeType": "S"}
                for attr in ("pk", "sk", "owner_kind", "created", "status")
            ),
            {"AttributeName": "expires_at", "AttributeType": "N"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": OWNER_INDEX,
                "KeySchema": [
                    {"AttributeName": "owner_kind", "KeyType": "HASH"},
                    {"AttributeName": "created", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "expires_at", "KeyType": "RANGE"},
                ],
                # Counts change with every shard; a keys-only index is not written for them.
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    )
    client.get_waiter("table_exists").wait(TableName=name)
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    )


def owner_page(
    dynamodb: Any,
    table_name: str,
    owner: str,
    kind: str,
    limit: int,
    after: dict[str, Any] | None,
    ascending: bool = False,
    keep: Callable[[dict[str, Any]], bool] = lambda item: True,
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` of `owner`'s items of `kind` that `keep` accepts, in creation order
    (newest first unless `ascending`), after the item `after` (its values; None = from the
    start), and whether more follow."""
    found: list[dict[str, Any]] = []
    start = None
    if after is not None:
        start = to_item({k: after[k] for k in ("pk", "sk", "owner_kind", "created")})
    while True:
        query: dict[str, Any] = {
            "TableName": table_name,
            "IndexName": OWNER_INDEX,
            "KeyConditionExpression": "owner_kind = :o",
            "ExpressionAttributeValues": to_item({":o": owner_kind(owner, kind)}),
            "ScanIndexForward": ascending,
            "Limit": limit + 1,
        }
        if start is not None:
            query["ExclusiveStartKey"] = start
        page = dynamodb.query(**query)
        found.extend(v for v in map(from_item, page["Items"]) if keep(v))
        start = page.get("LastEvaluatedKey")
        if len(found) > limit or start is None:
            return found[:limit], len(found) > limit
