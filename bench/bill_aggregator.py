"""The usage aggregator's share of a request's bill (template.yaml: USAGE_AGGREGATION=stream).

Each request writes one request item; the table's stream hands new request items to
UsageAggregatorFunction in batches (the template's MaximumBatchingWindowInSeconds), and one
invocation adds a batch to its keys' day items: one UpdateItem per key and day. So its cost
per request is one invocation, its billed time and its updates' write units, divided by the
records a batch holds. That depends on traffic: the bill's totals take one key at
REQUESTS_PER_SECOND_PER_KEY over the template's UsageAggregationWindowSeconds; at one request
per window it is a whole invocation and write unit per request (`worst_case` in the bill).
"""

from __future__ import annotations

import datetime
from typing import Any

from bench.invocations import Counters, finish, invoke, step

RECORDS_PER_BATCH = 10  # records in each measured batch (its cost hardly depends on them)
AGGREGATOR_MEMORY_MB = 256  # template.yaml: UsageAggregatorFunction MemorySize
REQUESTS_PER_SECOND_PER_KEY = 1.0  # the traffic the bill's totals price the aggregator at
STREAM_BATCH_SIZE = 1000  # template.yaml: the mapping's BatchSize
# template.yaml: the mapping's TumblingWindowInSeconds. Every record belongs to one tumbling
# window and a batch never spans two, so a longer batching window gathers no more.
TUMBLING_WINDOW_S = 60


def records_per_batch(window_s: float, rate: float = REQUESTS_PER_SECOND_PER_KEY) -> float:
    """Request records of one key in one aggregator batch: `rate` a second over the batching
    window (cut at the tumbling window), at least one, at most the mapping's batch size."""
    gathered = rate * min(window_s, TUMBLING_WINDOW_S)
    return max(1.0, min(float(STREAM_BATCH_SIZE), gathered))


def stream_records(key_id: str, count: int, tokens: int, first_sequence: int) -> list[Any]:
    """`count` INSERT records of request items as DynamoDB Streams delivers them (NEW_IMAGE)."""
    day = datetime.datetime.now(datetime.UTC).date().isoformat()
    return [
        {
            "eventName": "INSERT",
            "dynamodb": {
                "SequenceNumber": str(first_sequence + i),
                "NewImage": {
                    "pk": {"S": f"REQ#bench-aggregator-{first_sequence + i}"},
                    "sk": {"S": "REQ"},
                    "key_id": {"S": key_id},
                    "day": {"S": day},
                    "inputs": {"N": "1"},
                    "prompt_tokens": {"N": str(tokens)},
                    "total_tokens": {"N": str(tokens)},
                },
            },
        }
        for i in range(count)
    ]


def aggregator_workload(
    counters: Counters, key_id: str, tokens: int, batches: int, first_sequence: int
) -> dict[str, Any]:
    """`batches` invocations of the deployed aggregator handler, RECORDS_PER_BATCH request
    records each, on the usage table (every call counted); raw counts per record."""
    from handler.usage import aggregator_handler

    totals: dict[str, Any] = {}
    for n in range(batches + 1):
        records = stream_records(
            key_id, RECORDS_PER_BATCH, tokens, first_sequence + n * RECORDS_PER_BATCH
        )
        event = {"shardId": "shardId-bench-aggregator", "Records": records}
        response, ms = invoke(aggregator_handler.handler, event, counters)
        if "state" not in response:
            raise SystemExit(f"the aggregator answered {response}")
        if n == 0:  # untimed: its client and connection built, as in a warm container
            counters.clear()
            continue
        step(counters, totals, ms)
    return finish(totals, batches * RECORDS_PER_BATCH)
