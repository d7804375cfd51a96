"""Plain dicts to and from DynamoDB's typed attribute values (boto3's own serializer)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer


@cache
def _serializers() -> tuple[TypeSerializer, TypeDeserializer]:
    # Imported on first use: importing boto3 at the API function's cold start costs ~0.1-0.3 s
    # that an embeddings request never needs.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    serialize = _serializers()[0].serialize
    return {k: serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    deserialize = _serializers()[1].deserialize
    out = {k: deserialize(v) for k, v in item.items()}
    # Numbers come back as Decimal; ours are all whole numbers.
    return {k: int(v) if isinstance(v, Decimal) else v for k, v in out.items()}
