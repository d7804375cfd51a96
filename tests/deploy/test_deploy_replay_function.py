"""Integration: the usage-replay function as built, in the Lambda runtime, with no layers.

GIVEN the sam-built UsageReplayFunction (the handler package alone: the template gives it no
layers, so it must run on the runtime's own botocore) under the Runtime Interface Emulator,
WHEN an SQS batch with one good usage record and one malformed body is invoked,
THEN the good record is in the usage table and only the malformed one is reported back as a
batch item failure, for SQS to retry and finally dead-letter.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from handler.records import UsageRecord
from handler.usage import store
from tests.deploy.deploy_support import FunctionStore, invoke_without_layers

pytestmark = pytest.mark.integration


def sqs_message(message_id: str, body: str) -> dict[str, object]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:usage-fallback",
        "awsRegion": "us-east-1",
    }


def test_replay_function_writes_good_records_and_returns_bad_ones(
    built: Path, function_store: FunctionStore, tmp_path: Path
) -> None:
    record = UsageRecord(
        request_id="replayed-by-the-runtime",
        key_id="key_replay",
        model="all-MiniLM-L6-v2",
        prompt_tokens=7,
        total_tokens=7,
        inputs=1,
        dimensions=384,
        encoding_format="float",
        user=None,
        latency_ms=3.0,
        timestamp=time.time(),
    )
    event = {"Records": [sqs_message("good", record.to_json()), sqs_message("bad", "{not json")]}
    (answer,), log = invoke_without_layers(
        "UsageReplayFunction",
        "handler.usage.replay_handler.handler",
        function_store.env,
        [event],
        tmp_path,
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}, log[-2000:]
    item = function_store.client.get_item(
        TableName=function_store.usage_table, Key=store.request_key(record.request_id)
    )
    assert "Item" in item
