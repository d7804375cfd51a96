"""Count what is left on a Kinesis ledger stream, from its start: the operator's tool after
switching a stack back to the DynamoDB ledger (template.yaml keeps the stream when its
mapping goes), or to check a stream by hand (`python -m handler.usage.cli count-stream`).

Reading a record the aggregator already counted is harmless: the counter's watermarks drop
it (handler/usage/stream_counter.py). Shards are read parents first, as Lambda reads them,
so each producer's records arrive in order across a reshard. Needs kinesis:ListShards,
GetShardIterator and GetRecords on the stream, and the aggregator's grants on the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from handler.usage.store import Client
from handler.usage.stream_counter import StreamCounter, lambda_record

PAGE_RECORDS = 10_000  # GetRecords' most records a call, and the mapping's batch size


def shards_parents_first(kinesis: Client, stream: str) -> list[str]:
    """The stream's shard ids, each after its parents (a split's and a merge's)."""
    shards: list[dict[str, Any]] = []
    request: dict[str, Any] = {"StreamName": stream}
    while True:
        page = kinesis.list_shards(**request)
        shards += page.get("Shards", [])
        if not page.get("NextToken"):
            break
        request = {"NextToken": page["NextToken"]}
    known = {s["ShardId"] for s in shards}
    ordered: list[str] = []
    waiting = list(shards)
    while waiting:
        ready = [
            s
            for s in waiting
            if all(
                s.get(parent) not in known or s.get(parent) in ordered
                for parent in ("ParentShardId", "AdjacentParentShardId")
            )
        ]
        if not ready:
            raise ValueError(f"shards of {stream} form a cycle")
        ordered += [s["ShardId"] for s in ready]
        waiting = [s for s in waiting if s not in ready]
    return ordered


def event_pages(kinesis: Client, stream: str, shard: str) -> Iterator[list[dict[str, Any]]]:
    """A shard's records from its start, page by page, shaped as Lambda's Kinesis event."""
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=PAGE_RECORDS)
        records = page.get("Records", [])
        if records:
            yield [
                lambda_record(shard, r["SequenceNumber"], r.get("PartitionKey", ""), r["Data"])
                for r in records
            ]
        if not records and not page.get("MillisBehindLatest"):
            return  # at the shard's tip (an open shard), or its end (a closed one)
        iterator = page.get("NextShardIterator")


def count_stream(kinesis: Client, stream: str, counter: StreamCounter) -> int:
    """Count every record on the stream not counted yet; returns how many were."""
    return sum(
        counter.apply(page)
        for shard in shards_parents_first(kinesis, stream)
        for page in event_pages(kinesis, stream, shard)
    )
