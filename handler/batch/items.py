"""Plain dicts to and from DynamoDB's typed attribute values (boto3's own serializer)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_TO = TypeSerializer()
_FROM = TypeDeserializer()


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _TO.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    out = {k: _FROM.deserialize(v) for k, v in item.items()}
    # Numbers come back as Decimal; ours are all whole numbers.
    return {k: int(v) if isinstance(v, Decimal) else v for k, v in out.items()}
