"""The largest usage record the service can build fits everywhere a record goes: a DynamoDB
item (400 KB), an SQS message (256 KiB) and a CloudWatch log event (256 KiB less 26 bytes).

Sizes come from the real serialisations: the item the writer puts (sized by DynamoDB's
documented rules), the queue body (`to_json`), the recorder's log line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import pytest
from usage_support import Faults, Tables

from handler.records import (
    MAX_ENCODING_CHARS,
    MAX_KEY_ID_CHARS,
    MAX_MODEL_CHARS,
    MAX_REQUEST_ID_CHARS,
    MAX_USER_CHARS,
    UsageRecord,
    bounded_request_id,
)
from handler.usage.recorder import UsageRecorder
from handler.usage.writer import UsageWriter, _request_item

DYNAMODB_ITEM_LIMIT = 400 * 1024  # "including attribute names and values"
SQS_MESSAGE_LIMIT = 256 * 1024
LOG_EVENT_LIMIT = 256 * 1024 - 26  # CloudWatch Logs: 256 KiB an event, 26 bytes of overhead
WIDEST = "\U0001f600"  # 4 bytes in UTF-8, 12 characters as a JSON escape (a surrogate pair)
BIG = 10**18  # larger than any count a request can reach (300,000 tokens, 2,048 inputs)


def dynamodb_item_size(item: dict[str, Any]) -> int:
    """An item's size by DynamoDB's rules: each attribute's name in UTF-8 plus its value:
    S = UTF-8 bytes; N = 1 byte per 2 significant digits + 1 (bounded here by the digits + 1);
    NULL and BOOL = 1 byte."""
    size = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        size += len(name.encode())
        if kind == "S":
            size += len(raw.encode("utf-8"))
        elif kind == "N":
            size += len(raw.lstrip("-").replace(".", "")) + 1  # over the true size, never under
        elif kind in ("NULL", "BOOL"):
            size += 1
        else:
            raise AssertionError(f"unexpected attribute type {kind}")
    return size


def largest_record() -> UsageRecord:
    """Every string at its limit in the widest characters, every number huge."""
    return UsageRecord(
        request_id=WIDEST * MAX_REQUEST_ID_CHARS,
        key_id=WIDEST * MAX_KEY_ID_CHARS,
        model=WIDEST * MAX_MODEL_CHARS,
        prompt_tokens=BIG,
        total_tokens=BIG,
        inputs=BIG,
        dimensions=BIG,
        encoding_format=WIDEST * MAX_ENCODING_CHARS,
        user=WIDEST * MAX_USER_CHARS,
        latency_ms=float(BIG),
        timestamp=4102444799.999999,  # 2099-12-31T23:59:59Z
        requested_model=WIDEST * MAX_MODEL_CHARS,
        truncated_inputs=BIG,
        pooled_inputs=BIG,
        requested_dimensions=BIG,
    )


@pytest.mark.unit
def test_records_bound_strings_as_the_request_model_does() -> None:
    from handler import embedding_request

    assert MAX_USER_CHARS == embedding_request.MAX_USER_CHARS
    assert MAX_MODEL_CHARS == embedding_request.MAX_MODEL_CHARS


@pytest.mark.unit
def test_every_string_in_a_record_is_bounded_by_construction() -> None:
    huge = "x" * 500_000
    record = replace(largest_record(), request_id=huge, user=huge, model=huge, key_id=huge)
    assert len(record.user or "") == MAX_USER_CHARS
    assert len(record.model) == MAX_MODEL_CHARS and len(record.key_id) == MAX_KEY_ID_CHARS
    # an over-long request id becomes a digest: bounded, and the same for the same request
    assert record.request_id == bounded_request_id(huge) and len(record.request_id) == 71
    assert bounded_request_id(huge) != bounded_request_id(huge + "y")
    short = "8f5c2a8e-0000-4000-8000-000000000001"
    assert bounded_request_id(short) == short
    # the queue's JSON round-trips a bounded record unchanged (replay keeps its id)
    assert UsageRecord.from_json(record.to_json()) == record


@pytest.mark.unit
def test_the_largest_record_fits_dynamodb_sqs_and_a_log_event(
    moto_tables: Tables, caplog: pytest.LogCaptureFixture
) -> None:
    record = largest_record()
    item_size = dynamodb_item_size(_request_item(record, ttl_seconds=90 * 86400))
    queue_size = len(record.to_json().encode("utf-8"))

    # The recorder's own line when the record reaches neither DynamoDB nor a queue.
    Faults(moto_tables.client, "TransactWriteItems", ["timeout"] * 3)
    writer = UsageWriter(moto_tables.client, moto_tables.usage, ttl_seconds=90 * 86400)
    with caplog.at_level(logging.WARNING, logger="handler.usage"):
        assert UsageRecorder(writer, None)(record) == "logged"
    line = caplog.records[-1].getMessage()
    assert json.loads(line)["record"]["user"] == record.user
    log_size = len(line.encode("utf-8")) + 200  # + the runtime's level, time and request id

    print(f"\nlargest record: item {item_size} B, queue {queue_size} B, log line {log_size} B")
    assert item_size < DYNAMODB_ITEM_LIMIT
    assert queue_size < SQS_MESSAGE_LIMIT
    assert log_size < LOG_EVENT_LIMIT
    # and with room to spare: under a tenth of the tightest limit
    assert max(item_size, queue_size, log_size) < LOG_EVENT_LIMIT // 10
