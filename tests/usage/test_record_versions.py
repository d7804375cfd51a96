"""Unit: one usage record type from the route to DynamoDB, the queue and replay; records
written by the previous version (queued or logged before an upgrade) still decode."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from handler.hooks import UsageRecord as HookRecord
from handler.records import STREAM_ONLY, UsageRecord
from handler.usage.writer import _request_item

pytestmark = pytest.mark.unit

# A queue body exactly as the previous release's records.UsageRecord.to_json wrote it
# (before requested_model and truncated_inputs were recorded).
PREVIOUS_VERSION_BODY = (
    '{"dimensions":384,"encoding_format":"base64","inputs":2,"key_id":"key_0123456789abcdef",'
    '"latency_ms":12.5,"model":"all-MiniLM-L6-v2","prompt_tokens":9,"request_id":"req-1",'
    '"timestamp":1796000000.25,"total_tokens":9,"user":null}'
)


def test_the_app_and_the_ledger_share_one_record_type() -> None:
    assert HookRecord is UsageRecord


def test_a_previous_version_record_decodes_with_the_new_fields_defaulted() -> None:
    record = UsageRecord.from_json(PREVIOUS_VERSION_BODY)
    assert (record.request_id, record.key_id, record.inputs, record.prompt_tokens) == (
        "req-1",
        "key_0123456789abcdef",
        2,
        9,
    )
    assert (record.requested_model, record.truncated_inputs) == (None, 0)
    assert UsageRecord.from_json(record.to_json()) == record


def test_fields_from_a_newer_version_are_ignored() -> None:
    body = json.loads(PREVIOUS_VERSION_BODY) | {"some_future_field": [1, 2]}
    assert UsageRecord.from_json(json.dumps(body)).request_id == "req-1"


@pytest.mark.parametrize(
    "body", ["{not json", "[]", '{"request_id": "x"}', '{"request_id": "x", "key_id": 1}']
)
def test_malformed_bodies_are_value_errors(body: str) -> None:
    with pytest.raises(ValueError):
        UsageRecord.from_json(body)


def test_the_request_item_is_written_from_the_same_field_table() -> None:
    record = UsageRecord.from_json(PREVIOUS_VERSION_BODY)
    item = _request_item(record, ttl_seconds=86400)
    # every field under its own name, the previous version's attribute names among them, but
    # the Kinesis ledger's stamp, which only a stream record carries
    assert {f.name for f in fields(UsageRecord)} - set(STREAM_ONLY) <= set(item)
    assert not set(STREAM_ONLY) & set(item)
    assert item["user"] == {"NULL": True}
    assert item["inputs"] == {"N": "2"} and item["latency_ms"] == {"N": "12.500000"}
    assert item["requested_model"] == {"NULL": True} and item["truncated_inputs"] == {"N": "0"}
    assert item["expires_at"] == {"N": str(1796000000 + 86400)}
