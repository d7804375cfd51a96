"""Integration: the usage aggregator as built, in the Lambda runtime, fed the Kinesis ledger.

GIVEN the sam-built UsageAggregatorFunction (the handler package alone, on the runtime's own
botocore: the template gives it no layers) under the Runtime Interface Emulator,
WHEN a Kinesis event with one producer's records 1 and 2, record 1 twice (a put botocore
retried after a lost response), is invoked, and then again (a batch Lambda delivers again),
THEN the day item holds the two requests once, and the producer's watermark says 2.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handler.records import UsageRecord
from handler.usage import store
from handler.usage.stream_counter import producer_key
from tests.deploy.deploy_support import FunctionStore, invoke_without_layers

pytestmark = pytest.mark.integration


def kinesis_record(record: UsageRecord, sequence: int) -> dict[str, object]:
    """A record as Lambda's Kinesis event source delivers it."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.producer,
            "sequenceNumber": str(49_000_000_000_000_000_000 + sequence),
            "data": base64.b64encode(record.to_json().encode()).decode(),
            "approximateArrivalTimestamp": record.timestamp,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{49_000_000_000_000_000_000 + sequence}",
        "eventName": "aws:kinesis:record",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/usage-ledger",
        "awsRegion": "us-east-1",
    }


def test_the_aggregator_counts_a_kinesis_ledger_batch_once(
    built: Path, function_store: FunctionStore, tmp_path: Path
) -> None:
    first = UsageRecord(
        request_id="counted-by-the-runtime-1", key_id="key_ledger_rie", model="all-MiniLM-L6-v2",
        prompt_tokens=7, total_tokens=7, inputs=1, dimensions=384, encoding_format="float",
        user=None, latency_ms=3.0, timestamp=time.time(), producer="rie-producer", producer_seq=1,
    )  # fmt: skip
    second = dataclasses.replace(
        first, request_id="counted-by-the-runtime-2", prompt_tokens=5, total_tokens=5,
        producer_seq=2,
    )  # fmt: skip
    event = {
        "Records": [kinesis_record(first, 1), kinesis_record(first, 2), kinesis_record(second, 3)]
    }
    answers, log = invoke_without_layers(
        "UsageAggregatorFunction",
        "handler.usage.aggregator_handler.handler",
        function_store.env,
        [event, event],  # the second: a batch Lambda delivers again
        tmp_path,
    )
    assert answers == [{"counted": 2}, {"counted": 0}], log[-2000:]
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    item = function_store.client.get_item(
        TableName=function_store.usage_table,
        Key=store.day_stream_key("key_ledger_rie", day, "shardId-000000000000"),
        ConsistentRead=True,
    )["Item"]
    assert (item["requests"]["N"], item["total_tokens"]["N"]) == ("2", "12")
    mark = function_store.client.get_item(
        TableName=function_store.usage_table, Key=producer_key("rie-producer"), ConsistentRead=True
    )["Item"]
    assert mark["n"] == {"N": "2"}
