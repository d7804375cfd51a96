"""Lambda entry point of the usage aggregator (USAGE_AGGREGATION=stream), for both of its
sources: the usage table's stream, and the Kinesis ledger's stream when the template's
UsageLedger is Kinesis (handler/usage/stream_counter.py; a Kinesis event's records name their
shard in `eventID`, so that mapping needs no tumbling window). For the Kinesis ledger it also
needs dynamodb:BatchGetItem on the usage table and the kinesis:GetRecords, GetShardIterator,
DescribeStream, DescribeStreamSummary, ListShards and ListStreams its mapping uses.

Wired to the usage table's stream by an event source mapping with a tumbling window, because
only then does Lambda's event name the stream shard (`shardId`), which keys the day items it
updates and their watermarks (handler/usage/aggregator.py). The mapping's filter passes only
INSERTs of request items, so quota counters and day items do not invoke it. Needs
USAGE_TABLE; IAM: dynamodb:UpdateItem on the usage table, plus the dynamodb:DescribeStream,
GetRecords, GetShardIterator and ListStreams the mapping uses.
"""

from __future__ import annotations

from typing import Any

from handler.settings import Settings
from handler.usage import store
from handler.usage.aggregator import StreamAggregator
from handler.usage.stream_counter import StreamCounter

_aggregator: StreamAggregator | None = None
_counter: StreamCounter | None = None


def _default_aggregator() -> StreamAggregator:
    global _aggregator
    if _aggregator is None:
        settings = Settings.from_env()
        _aggregator = StreamAggregator(store.client_for("dynamodb", settings), settings.usage_table)
    return _aggregator


def _default_counter() -> StreamCounter:
    global _counter
    if _counter is None:
        settings = Settings.from_env()
        _counter = StreamCounter.from_settings(store.client_for("dynamodb", settings), settings)
    return _counter


def is_kinesis(event: dict[str, Any]) -> bool:
    records = event.get("Records") or [{}]
    return bool(records[0].get("eventSource") == "aws:kinesis")


def handle_ledger_batch(event: dict[str, Any], counter: StreamCounter) -> dict[str, Any]:
    """Count one Kinesis shard's batch; raises (so Lambda retries the batch) on any error."""
    return {"counted": counter.apply(event.get("Records", []))}  # Lambda ignores it


def handle_batch(event: dict[str, Any], aggregator: StreamAggregator) -> dict[str, Any]:
    """Count one shard's batch; raises (so Lambda retries the batch) on any error. Returns
    the tumbling window's state, which this function does not use."""
    shard_id = event.get("shardId")
    if not shard_id:
        raise ValueError("no shardId in the event: the mapping needs TumblingWindowInSeconds")
    aggregator.apply(str(shard_id), event.get("Records", []))
    return {"state": {}}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_kinesis(event):
        return handle_ledger_batch(event, _default_counter())
    return handle_batch(event, _default_aggregator())
