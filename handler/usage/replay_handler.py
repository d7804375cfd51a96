"""Optional Lambda entry point that drains the fallback queue automatically.

Wire it to the queue with an SQS event source mapping (FunctionResponseTypes:
ReportBatchItemFailures). Each record goes through the same exactly-once write as
`python -m handler.usage.cli replay`; a record DynamoDB still refuses is reported as a batch
item failure, so SQS redelivers it (and moves it to the DLQ after maxReceiveCount).
With the Kinesis ledger (USAGE_LEDGER_STREAM) a stamped record is put on the stream again
(kinesis:PutRecord), where the counter drops it if a copy was counted.
Needs USAGE_TABLE; IAM: dynamodb:PutItem and dynamodb:UpdateItem on the usage table, plus the
sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes the mapping uses.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler.records import UsageRecord
from handler.settings import Settings
from handler.usage import store
from handler.usage.stream_ledger import replay_writer
from handler.usage.writer import RecordWriter

_writer: RecordWriter | None = None


def _default_writer() -> RecordWriter:
    global _writer
    if _writer is None:
        settings = Settings.from_env()
        client = store.client_for("dynamodb", settings)
        _writer = replay_writer(settings, client, lambda: store.client_for("kinesis", settings))
    return _writer


def handle_batch(event: dict[str, Any], writer: RecordWriter) -> dict[str, Any]:
    """Write each SQS record; return the ids of those to retry."""
    failures = []
    for message in event.get("Records", []):
        try:
            writer.write(UsageRecord.from_json(message["body"]))
        except (ValueError, BotoCoreError, ClientError):
            failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_batch(event, _default_writer())
