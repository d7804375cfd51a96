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


def _plain(value: Any) -> Any:
    # Numbers come back as Decimal, nested ones too (a batch's errors[].line); ours are all
    # whole numbers.
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    deserialize = _serializers()[1].deserialize
    return {k: _plain(deserialize(v)) for k, v in item.items()}
