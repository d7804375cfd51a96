"""The `bill` section: what a request and a batch line cost, priced from counted calls.

bench/workers/bill.py runs the workloads through the deployed handler and the batch worker
and counts every AWS call, invocation and logged byte; this module adds what the code cannot
see (Lambda's platform log lines, X-Ray traces at the template's sampling, the front door's
requests) and prices the lot with bench/billing.py at the one price table (bench/prices.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench import bill_floor, bill_kinesis, bill_scale, bill_typical, billing, waits
from bench.bill_aggregator import (
    AGGREGATOR_MEMORY_MB,
    REQUESTS_PER_SECOND_PER_KEY,
    records_per_batch,
)
from bench.bill_choices import cold_start_price, provisioned
from bench.config import LAMBDA_MB_PER_VCPU, REPO, SERVICE_PY, Sizes
from bench.cost import configured_memory_mb, parameter_default
from bench.prices import PRICE_DATE, PRICES, table
from bench.proc import run_worker
from bench.stats import median

# Lambda's own lines per invocation with LogFormat JSON and SystemLogLevel INFO (the batch
# worker's; the API function's follows PlatformLogLevel, whose default WARN drops them):
# platform.start and platform.report, both carrying the X-Ray trace header when
# tracing is active. Shapes as the Lambda docs show them, with values of realistic length.
_TRACING = {
    "spanId": "7a1a4d33a22e6d10",
    "type": "X-Amzn-Trace-Id",
    "value": "Root=1-6751c7a0-3b8d1f0e4c2a5b6d7e8f9a0b;Parent=7a1a4d33a22e6d10;Sampled=0;"
    "Lineage=1:a1b2c3d4:0",
}
_REQUEST_ID = "5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b"
PLATFORM_LINES: dict[str, dict[str, Any]] = {
    "platform.start": {
        "time": "2026-12-05T05:36:00.123Z",
        "type": "platform.start",
        "record": {"requestId": _REQUEST_ID, "version": "12", "tracing": _TRACING},
    },
    "platform.report": {
        "time": "2026-12-05T05:36:00.140Z",
        "type": "platform.report",
        "record": {
            "requestId": _REQUEST_ID,
            "metrics": {
                "durationMs": 16.872,
                "billedDurationMs": 17,
                "memorySizeMB": 2048,
                "maxMemoryUsedMB": 312,
            },
            "tracing": _TRACING,
            "status": "success",
        },
    },
}
# CloudWatch Logs counts 26 bytes per event on top of its message toward PutLogEvents' batch
# size; we count them as ingested too (the figure errs on the high side if they are not).
LOG_EVENT_OVERHEAD_BYTES = 26
XRAY_DEFAULT_SAMPLING = 0.05  # X-Ray's default rule past its 1 request/s reservoir


def platform_bytes(tracing: bool) -> int:
    """Bytes of Lambda's platform lines for one invocation, event overhead included."""
    total = 0
    for line in PLATFORM_LINES.values():
        record = dict(line["record"])
        if not tracing:
            record.pop("tracing", None)
        total += len(json.dumps({**line, "record": record}).encode()) + LOG_EVENT_OVERHEAD_BYTES
    return total


def api_platform_logged(template: Path = REPO / "template.yaml") -> bool:
    """Whether the API function keeps Lambda's platform lines: template.yaml's PlatformLogLevel
    default is INFO (WARN, or no such parameter with SystemLogLevel INFO, decides otherwise)."""
    text = template.read_text() if template.is_file() else ""
    found = re.search(r"^  PlatformLogLevel:\n(?:    .*\n)*?    Default: (\w+)", text, re.MULTILINE)
    return found is None or found.group(1) == "INFO"


def usage_aggregation_of(template: Path = REPO / "template.yaml") -> str:
    """The API function's USAGE_AGGREGATION in template.yaml (inline when it sets none)."""
    text = template.read_text() if template.is_file() else ""
    found = re.search(r"^\s+USAGE_AGGREGATION:\s*(\w+)", text, re.MULTILINE)
    return found.group(1) if found else "inline"


def _tracing_mode(text: str) -> tuple[str, str]:
    """(mode, where it came from): a function's literal `Tracing: Active`, else the default of
    the `Tracing` parameter the functions reference, else PassThrough."""
    if re.search(r"^\s+Tracing:\s*Active\s*$", text, re.MULTILINE):
        return "Active", "template.yaml Tracing: Active"
    ref = re.search(r"^\s+Tracing:\s*!Ref\s+(\w+)\s*$", text, re.MULTILINE)
    if ref:
        body = re.search(
            rf"^  {ref.group(1)}:\n((?:    .*\n)+)", text, re.MULTILINE
        )  # the Parameters entry
        default = re.search(r"^    Default:\s*(\w+)", body.group(1), re.MULTILINE) if body else None
        if default:
            return default.group(1), f"template.yaml parameter {ref.group(1)}={default.group(1)}"
    return "PassThrough", "template.yaml: no Tracing: Active"


def tracing_of(template: Path = REPO / "template.yaml") -> dict[str, Any]:
    """Whether the template traces its functions with X-Ray (a literal `Tracing: Active` or the
    default of the parameter they reference), and the sampled share: a sampling rule's
    FixedRate in the template, else X-Ray's default."""
    text = template.read_text() if template.is_file() else ""
    mode, source = _tracing_mode(text)
    rate = re.search(r"^\s+FixedRate:\s*([0-9.]+)", text, re.MULTILINE)
    if mode != "Active":
        return {"active": False, "sampling": 0.0, "source": source}
    if rate:
        return {"active": True, "sampling": float(rate.group(1)), "source": f"{source}, FixedRate"}
    return {
        "active": True,
        "sampling": XRAY_DEFAULT_SAMPLING,
        "source": f"{source}, X-Ray's default rule (1/s reservoir, then 5%; the reservoir is "
        "ignored: it matters only at a few requests per second)",
    }


def count_of(
    parts: list[dict[str, Any]],
    tracing: dict[str, Any],
    alike: bool = True,
    platform_logged: list[bool] | None = None,
) -> dict[str, float]:
    """One workload's totals from the worker's parts (api and/or worker side);
    `platform_logged`: per part, whether its function writes Lambda's platform lines."""
    count: dict[str, float] = {}
    logged = platform_logged or [True] * len(parts)

    def add(name: str, value: float) -> None:
        count[name] = count.get(name, 0.0) + value

    for part, with_platform in zip(parts, logged, strict=True):
        platform = platform_bytes(tracing["active"]) if with_platform else 0
        walls = part.get("invocation_ms", [])
        invocations = len(walls)
        add("invocations", invocations)
        # Alike invocations (a sync workload's) bill their median: one slow request on this
        # shared machine says nothing about Lambda; a batch's differ in kind, so they add up.
        # billed_ms: as measured, waits on the local stand-ins included; billed_ms_aws_typical:
        # those waits at AWS-typical latencies (bench/waits.py).
        for name, source in (("billed_ms", walls),
                             ("billed_ms_aws_typical",
                              part.get("invocation_ms_aws_typical", walls))):  # fmt: skip
            billed = [billing.billed_ms(ms) for ms in source]
            add(name, median(billed) * invocations if alike and billed else sum(billed))
        own = part.get("own_ms", [])  # wall less on-thread waits: the median, as billed ms
        add("own_ms", median(own) * invocations if alike and own else sum(own))
        for kind, rows in waits.summed(part.get("waits_ms", [])).items():
            for key, ms in rows.items():
                add(f"wait_ms:{kind}:{key}", ms)
        for name in ("write_units", "read_units", "sqs_requests", "kinesis_put_units", "s3_put",
                     "s3_get"):  # fmt: skip
            add(name, float(part.get(name, 0.0)))
        add("s3_get", part.get("presigned_s3_get", 0))  # the client's GET of a presigned URL
        events = part.get("stdout_lines", 0) + part.get("log_lines", 0)
        add("emf_bytes", part.get("stdout_bytes", 0))
        add("app_log_bytes", part.get("log_bytes", 0))
        add("platform_log_bytes", platform * invocations)
        add("log_bytes", part.get("stdout_bytes", 0) + part.get("log_bytes", 0)
            + events * LOG_EVENT_OVERHEAD_BYTES + platform * invocations)  # fmt: skip
        add("traces", invocations * tracing["sampling"])
        requests = list(
            zip(part.get("request_bytes", []), part.get("response_bytes", []), strict=True)
        )
        add("api_requests", len(requests))
        add("http_api_requests", sum(billing.http_api_requests(q, r) for q, r in requests))
        add("response_bytes", sum(r for _, r in requests))
    return count


def _per(count: dict[str, float], units: int) -> dict[str, float]:
    return {k: v / units for k, v in count.items()}


def _calls(parts: list[dict[str, Any]], units: int) -> dict[str, float]:
    merged: dict[str, float] = {}
    for part in parts:
        for name, n in part.get("calls", {}).items():
            merged[name] = merged.get(name, 0) + n
    return {name: round(n / units, 3) for name, n in sorted(merged.items())}


def aggregator_price(
    measured: dict[str, Any], tracing: dict[str, Any], window_s: float
) -> dict[str, Any]:
    """The usage aggregator's USD per request record, at the records one key sends over the
    batching window `window_s` (bill_aggregator.records_per_batch) and at one (the worst
    case: a request alone in its window), from its counted batches."""
    records = records_per_batch(window_s)
    count = count_of([measured], tracing, alike=True)
    batches = count["invocations"]
    per = {k: v / batches for k, v in count.items()}
    batch_usd = sum(billing.price(per, AGGREGATOR_MEMORY_MB, "function_url").values())
    typical = {**per, "billed_ms": per["billed_ms_aws_typical"]}
    typical_usd = sum(billing.price(typical, AGGREGATOR_MEMORY_MB, "function_url").values())
    return {
        "window_s": window_s,
        "requests_per_second_per_key": REQUESTS_PER_SECOND_PER_KEY,
        "records_per_batch": records,
        "write_units_per_batch": round(count["write_units"] / batches, 3),
        "billed_ms_per_batch": round(per["billed_ms"], 1),
        "billed_ms_per_batch_aws_typical": round(per["billed_ms_aws_typical"], 1),
        "usd_per_record": batch_usd / records,
        "usd_per_record_aws_typical": typical_usd / records,
        "usd_per_batch_aws_typical": typical_usd,
        "write_units_per_record": count["write_units"] / batches / records,
        "worst_case_usd_per_record": batch_usd,
    }


def ledger_units(parts: list[dict[str, Any]], usage_table: str) -> float:
    """The write units the parts spent on the usage ledger's table (its request items; the
    stream aggregator's day updates are a few per stream batch, not per request)."""
    return sum(float(p.get("write_units_by_table", {}).get(usage_table, 0.0)) for p in parts)


def price_row(
    name: str,
    key: str,
    measured: dict[str, Any],
    tracing: dict[str, Any],
    memory_mb: int,
    aggregator: dict[str, Any] | None = None,
    usage_table: str = "",
) -> dict[str, Any]:
    """One workload's bill per request (or per batch line) and per million of each; a sync
    request's includes the usage aggregator's share (`aggregator`, per request record)."""
    batch = name == "batch"
    parts = [measured["api"], measured["worker"]] if batch else [measured]
    units = measured["lines"] if batch else measured["units"]
    tokens = measured.get("tokens")
    api_lines = api_platform_logged()
    logged = [api_lines, True] if batch else [api_lines]  # the worker keeps SystemLogLevel INFO
    per = _per(count_of(parts, tracing, alike=not batch, platform_logged=logged), units)
    tokens_per_unit = (tokens / units) if tokens else None
    openai_price = PRICES["openai_3_small_batch_token" if batch else "openai_3_small_token"]
    doors = {}
    for door in billing.FRONT_DOORS:
        parts_usd = billing.price(per, memory_mb, door)
        if aggregator is not None and not batch:  # one request item a request
            parts_usd["usage_aggregator"] = aggregator["usd_per_record"]
        doors[door] = {k: v * 1e6 for k, v in parts_usd.items()}
    http = doors["http_api"]
    total = {door: sum(p.values()) for door, p in doors.items()}
    openai_unit = (tokens_per_unit or 0) * openai_price.each * 1e6
    share = aggregator["usd_per_record_aws_typical"] if aggregator and not batch else None
    typical = bill_typical.aws_typical(per, memory_mb, share, tokens_per_unit)
    return {
        "aws_typical": typical,
        "emf_line": measured.get("emf_line"),
        "billed_time": bill_typical.billed_time(per),
        "workload": name,
        "key": key,
        "unit": "batch line" if batch else "request",
        "units": units,
        "inputs_per_unit": 1 if batch else measured.get("inputs_per_request"),
        "tokens_per_unit": None if tokens_per_unit is None else round(tokens_per_unit, 2),
        "calls_per_unit": _calls(parts, units),
        "write_units_per_unit": round(per.get("write_units", 0.0), 4),
        "aggregator_write_units_per_unit": round(
            aggregator["write_units_per_record"] if aggregator and not batch else 0.0, 4
        ),
        "read_units_per_unit": round(per.get("read_units", 0.0), 4),
        "ledger_write_units_per_unit": round(ledger_units(parts, usage_table) / units, 4),
        "units_from": {
            "consumed_capacity_calls": sum(
                p.get("dynamodb_calls_with_consumed_capacity", 0) for p in parts
            ),
            "estimated_calls": sum(p.get("dynamodb_calls_estimated", 0) for p in parts),
            "estimated_write_units_per_unit": round(
                sum(p.get("estimated_write_units", 0.0) for p in parts) / units, 4
            ),
            "reported_write_units_per_unit": round(
                sum(p.get("consumed_write_units", 0.0) for p in parts) / units, 4
            ),
        },
        "log_bytes_per_unit": {
            "emf": round(per.get("emf_bytes", 0.0), 1),
            "application": round(per.get("app_log_bytes", 0.0), 1),
            "platform": round(per.get("platform_log_bytes", 0.0), 1),
            "total_with_event_overhead": round(per.get("log_bytes", 0.0), 1),
        },
        "invocations_per_unit": round(per.get("invocations", 0.0), 4),
        "billed_ms_per_unit": round(per.get("billed_ms", 0.0), 3),
        "response_bytes_per_unit": round(per.get("response_bytes", 0.0), 1),
        "usd_per_million_units": {d: round(t, 4) for d, t in total.items()},
        "usd_per_million_tokens": {
            d: (round(t / tokens_per_unit, 5) if tokens_per_unit else None)
            for d, t in total.items()
        },
        "parts_usd_per_million_units": {k: round(v, 5) for k, v in http.items()},
        "shares_percent": billing.shares(http),
        "openai_usd_per_million_units": round(openai_unit, 4),
        "openai_usd_per_million_tokens": openai_price.usd,
        "ratio_to_openai": round(total["http_api"] / openai_unit, 2) if openai_unit else None,
        # A batch's output leaves through a presigned S3 URL, not the response: not sized here.
        "transfer_out_usd_per_million_units": None
        if batch
        else round(
            per.get("response_bytes", 0.0) / billing.GB * PRICES["transfer_out_gb"].usd * 1e6, 4
        ),
    }


TEN_MILLION = 10_000_000
# Worker memory sizes the batch is priced at besides the template's (issue 21): one vCPU at
# LAMBDA_MB_PER_VCPU, and below it.
BATCH_MEMORY_MB = (LAMBDA_MB_PER_VCPU, 1024)


def batch_ten_million(
    measured: dict[str, Any],
    tracing: dict[str, Any],
    memory_mb: int,
    shard_lines: int,
    api_memory_mb: int | None = None,
) -> dict[str, Any]:
    """10M one-sentence inputs as batch lines, all-in, at the template's worker memory and at
    BATCH_MEMORY_MB, beside OpenAI's batch price: the measured batch (`shard_lines`-line
    shards) scaled by phase to batches of 50,000 lines (bench/bill_scale.py). The API's
    requests are priced at `api_memory_mb` (the API function's; default the worker's).

    The worker runs one ONNX thread: above one vCPU its time does not shrink, below it the
    time stretches by the vCPU share (all of it taken as CPU: an upper bound, the waits do
    not stretch)."""
    lines = measured["lines"]
    phases = measured["worker_phases"]
    api_logged = api_platform_logged()
    api = count_of([measured["api"]], tracing, alike=False, platform_logged=[api_logged])
    plan = count_of([phases["batch"]], tracing, alike=False)
    shards = count_of([phases["shard"]], tracing, alike=False)
    job = bill_scale.Job(TEN_MILLION, shard_lines)
    measured_shards = -(-lines // shard_lines)
    sizes = sorted({memory_mb, *BATCH_MEMORY_MB}, reverse=True)
    usd, parts_usd = {}, {}
    for size in sizes:
        stretch = max(1.0, LAMBDA_MB_PER_VCPU / size)
        worker_plan = {**plan, "billed_ms": plan["billed_ms"] * stretch}
        worker_shards = {**shards, "billed_ms": shards["billed_ms"] * stretch}
        priced = _added(
            billing.price(
                bill_scale.scaled(api, {}, lines, measured_shards, job),
                api_memory_mb or size,
                "http_api",
            ),
            billing.price(
                bill_scale.scaled(worker_plan, worker_shards, lines, measured_shards, job),
                size,
                "http_api",
            ),
        )
        usd[str(size)] = round(sum(priced.values()), 3)
        parts_usd[str(size)] = {k: round(v, 4) for k, v in priced.items()}
    tokens_per_line = measured["tokens"] / lines
    openai = tokens_per_line * TEN_MILLION / 1e6 * PRICES["openai_3_small_batch_token"].usd
    return {
        "inputs": TEN_MILLION,
        "batches": job.batches,
        "batch_lines": job.batch_lines,
        "shards": job.shards,
        "shard_lines": shard_lines,
        "measured_lines": lines,
        "measured_shards": measured_shards,
        "tokens_per_input": round(tokens_per_line, 2),
        "template_memory_mb": memory_mb,
        "api_memory_mb": api_memory_mb or memory_mb,
        "usd_at_memory_mb": usd,
        "parts_usd_at_memory_mb": parts_usd,
        "openai_batch_usd": round(openai, 3),
        "per_batch": {
            "api_billed_ms": round(api["billed_ms"], 1),
            "plan_billed_ms": round(plan["billed_ms"], 1),
            "invocations": plan["invocations"],
        },
        "per_shard": {
            "invocations": round(shards["invocations"] / measured_shards, 2),
            "s3_put": round(shards.get("s3_put", 0.0) / measured_shards, 2),
            "s3_get": round(shards.get("s3_get", 0.0) / measured_shards, 2),
            "sqs_requests": round(shards.get("sqs_requests", 0.0) / measured_shards, 2),
            "write_units": round(shards.get("write_units", 0.0) / measured_shards, 2),
            "log_bytes": round(shards.get("log_bytes", 0.0) / measured_shards, 1),
        },
        "worker_billed_ms_per_line": round(shards["billed_ms"] / lines, 3),
        "scaling": "per batch (API requests, plan): calls once per 50,000 lines, billed ms "
        "by lines; per shard (shard invocations, the finalization in the last): calls once per "
        "shard, billed ms per line (bench/bill_scale.py)",
    }


def _added(*parts: dict[str, float]) -> dict[str, float]:
    total: dict[str, float] = {}
    for part in parts:
        for name, value in part.items():
            total[name] = total.get(name, 0.0) + value
    return total


def run(sizes: Sizes, env: dict[str, str], cold: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure in a fresh process (it installs the meter before the app builds a client);
    `cold`: the cold_start section's results of the same run, to price a cold start."""
    shard_lines = sizes.bill_shard_lines or parameter_default("BatchShardLines", 5000)
    args = [
        "--requests", str(sizes.bill_requests),
        "--big-requests", str(sizes.bill_big_requests),
        "--big-inputs", str(sizes.big_inputs),
        "--batch-lines", str(sizes.bill_batch_lines or 2 * shard_lines),
        "--shard-lines", str(sizes.bill_shard_lines),
    ]  # fmt: skip
    # The ledger as deployed: template.yaml sets USAGE_AGGREGATION on every usage writer.
    env = {**env, "USAGE_AGGREGATION": usage_aggregation_of()}
    measured = run_worker(SERVICE_PY, "bench.workers.bill", args, env, timeout=1800)
    memory_mb, memory_source = configured_memory_mb()
    tracing = tracing_of()
    workloads = measured["workloads"]
    window_s = parameter_default("UsageAggregationWindowSeconds", 10)
    aggregators = {
        label.split(":")[1]: aggregator_price(workload, tracing, window_s)
        for label, workload in workloads.items()
        if label.startswith("aggregator:")
    }
    # The batch runs on its own worker function, at its own memory.
    worker_mb = parameter_default("BatchWorkerMemorySize", memory_mb)
    usage_table = measured.get("usage_table", "")
    rows = []
    for label, workload in workloads.items():
        name, key = label.split(":")
        if name == "aggregator":
            continue
        size = worker_mb if name == "batch" else memory_mb
        rows.append(
            price_row(name, key, workload, tracing, size, aggregators.get(key), usage_table)
        )
    batch = workloads.get("batch:no_limits")
    priced = {"rows": rows, "memory_mb": memory_mb, "usage_aggregator": aggregators}
    return {
        "floor": bill_floor.figures(priced),
        "kinesis_ledger": bill_kinesis.summary(rows, memory_mb),
        "rows": rows,
        "usage_aggregator": aggregators,
        "cold_start": cold_start_price(cold, memory_mb),
        "provisioned": provisioned(rows),
        "batch_ten_million": None
        if batch is None
        else batch_ten_million(batch, tracing, worker_mb, measured["batch_shard_lines"], memory_mb),
        "memory_mb": memory_mb,
        "memory_source": memory_source,
        "tracing": tracing,
        "platform_bytes_per_invocation": platform_bytes(tracing["active"]),
        "big_inputs": measured["big_inputs"],
        "batch_shard_lines": measured["batch_shard_lines"],
        "ort_threads": measured["ort_threads"],
        "price_date": PRICE_DATE,
        "prices": table(),
        "measured": measured["workloads"],
    }
