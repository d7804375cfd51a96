"""The Kinesis ledger in the bill (UsageLedger=Kinesis; handler/usage/stream_ledger.py).

Measured like the DynamoDB ledger: the deployed app, rewired from its settings with
USAGE_LEDGER_STREAM (UsageService.reconnect, as after a SnapStart restore) to a stream on
moto's server, answers the same short queries with every call counted; the aggregator's
Kinesis path counts batches of stamped records, every call counted. What the code cannot show
is priced here: the stream's shard-hours, a fixed cost whatever the traffic, spread over a
month's requests (`at_volumes`), and the break-even against the DynamoDB ledger.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import uuid
from collections.abc import Callable
from typing import Any

from bench.bill_aggregator import RECORDS_PER_BATCH
from bench.invocations import Counters, finish, invoke, step
from bench.prices import PRICES

LABEL = "kinesis_ledger"  # the key label of its rows (bench/bill_tables.py KEYS)
HOURS_PER_MONTH = 730  # AWS's pricing month
SHARD_RECORDS_PER_SECOND = 1000  # a provisioned shard's write limit
VOLUMES = (10_000_000, 100_000_000, 1_000_000_000)  # requests a month the all-in is shown at
TARGET_VOLUME = 100_000_000  # the targets read this one: ~38 requests/s, a busy search box


def shard_month_usd(shards: int = 1) -> float:
    return shards * HOURS_PER_MONTH * PRICES["kinesis_shard_hour"].usd


def shards_for(requests_per_month: int) -> int:
    """Shards for steady traffic of that volume (a peakier one needs more)."""
    per_second = requests_per_month / (HOURS_PER_MONTH * 3600)
    return max(1, -(-int(per_second) // SHARD_RECORDS_PER_SECOND))


def ledger_workloads(
    deployed: Any,
    counters: Counters,
    moto: Any,
    sync: dict[str, Callable[[], dict[str, Any]]],
    batches: int,
) -> dict[str, dict[str, Any]]:
    """The `sync` workloads (name: run) on the Kinesis ledger, and its counter's batches."""
    from handler.usage import aggregator_handler

    kinesis = moto.client("kinesis")
    stream = "bench-usage-ledger-" + uuid.uuid4().hex[:8]
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    os.environ["AWS_ENDPOINT_URL_KINESIS"] = moto.endpoint_url
    settings = dataclasses.replace(deployed.settings, usage_ledger_stream=stream)
    deployed.usage.reconnect(settings)  # the recorder now puts on the stream
    try:
        workloads = {f"{name}:{LABEL}": run() for name, run in sync.items()}
    finally:
        deployed.usage.reconnect(deployed.settings)
    totals: dict[str, Any] = {}
    for n in range(batches + 1):
        event = {"Records": _stamped_events(n, RECORDS_PER_BATCH)}
        response, ms = invoke(aggregator_handler.handler, event, counters)
        if response.get("counted") != RECORDS_PER_BATCH:
            raise SystemExit(f"the ledger's counter answered {response}")
        if n == 0:  # untimed: its client and connection built, as in a warm container
            counters.clear()
            continue
        step(counters, totals, ms)
    workloads[f"aggregator:{LABEL}"] = finish(totals, batches * RECORDS_PER_BATCH)
    return workloads


def _stamped_events(batch: int, count: int) -> list[dict[str, Any]]:
    """`count` Kinesis event records of one producer's next records (12-token requests)."""
    from handler.records import UsageRecord
    from handler.usage.stream_counter import lambda_record

    now = datetime.datetime.now(datetime.UTC).timestamp()
    events = []
    for i in range(count):
        n = batch * count + i + 1
        record = UsageRecord(
            request_id=f"bench-ledger-{n}", key_id="key_bench_ledger", model="bench",
            prompt_tokens=12, total_tokens=12, inputs=1, dimensions=384,
            encoding_format="base64", user=None, latency_ms=3.0, timestamp=now,
            producer="bench-producer", producer_seq=n,
        )  # fmt: skip
        events.append(lambda_record(
            "shardId-000000000000", str(10**20 + n), "bench-producer", record.to_json().encode()
        ))  # fmt: skip
    return events


def summary(rows: list[dict[str, Any]], memory_mb: int) -> dict[str, Any] | None:
    """The Kinesis ledger's short query against the DynamoDB ledger's, with the shard-hours:
    all-in per 1M at VOLUMES requests a month, and the volume above which it costs less."""
    kinesis = next((r for r in rows if r["key"] == LABEL and r["workload"] == "short"), None)
    dynamo = next((r for r in rows if r["key"] == "no_limits" and r["workload"] == "short"), None)
    if kinesis is None or dynamo is None:
        return None
    marginal = kinesis["aws_typical"]["usd_per_million_units"]
    dynamo_usd = dynamo["aws_typical"]["usd_per_million_units"]
    saving = dynamo_usd["http_api"] - marginal["http_api"]  # per 1M, the same on both doors
    at = {}
    for volume in VOLUMES:
        fixed = shard_month_usd(shards_for(volume)) / (volume / 1e6)
        at[str(volume)] = {
            "shards": shards_for(volume),
            "shard_usd_per_million": round(fixed, 4),
            "usd_per_million_units": {d: round(v + fixed, 4) for d, v in marginal.items()},
        }
    wait_ms_more = 10.0  # what a put twice as slow as taken would add (bench/shard_profile.py)
    slower = wait_ms_more / 1000 * memory_mb / 1024 * PRICES["lambda_arm64_gb_second"].each * 1e6
    return {
        "marginal_usd_per_million_units": marginal,
        "dynamodb_ledger_usd_per_million_units": dynamo_usd,
        "saving_usd_per_million": round(saving, 4),
        "shard_month_usd": round(shard_month_usd(), 2),
        "break_even_requests_per_month": round(shard_month_usd() / saving * 1e6)
        if saving > 0
        else None,
        "at_requests_per_month": at,
        "target_volume": TARGET_VOLUME,
        "usd_per_million_if_put_10_ms_slower": round(slower, 4),
        "put_units_per_request": kinesis["calls_per_unit"].get("kinesis:PutRecord"),
        "ledger_write_units_per_request": kinesis["write_units_per_unit"],
    }
