"""The `bill` section's tables: dollars per million requests and tokens beside OpenAI, the
share of each part of the bill, the calls behind it, and the price table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import bill_report_levers
from bench.bill_tables import KEYS, label, table, usd

PARTS = (
    ("lambda_requests", "Lambda requests"),
    ("lambda_duration", "Lambda duration"),
    ("dynamodb_writes", "DynamoDB writes"),
    ("dynamodb_reads", "DynamoDB reads"),
    ("sqs", "SQS"),
    ("kinesis", "Kinesis"),
    ("s3", "S3"),
    ("front_door", "HTTP API"),
    ("logs", "CloudWatch Logs"),
    ("xray", "X-Ray"),
    ("usage_aggregator", "usage aggregator"),
)
TYPICAL = ("aws_typical",)  # the targets read the bill at AWS-typical waits (bench/waits.py)


def _row(results: dict[str, Any], workload: str, key: str) -> dict[str, Any] | None:
    rows = (results.get("bill") or {}).get("rows") or []
    return next((r for r in rows if r["workload"] == workload and r["key"] == key), None)


def _pick(row: dict[str, Any] | None, *path: str) -> Any:
    node: Any = row
    for name in path:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node


def targets(results: dict[str, Any]) -> list[tuple[str, str, Any, Callable[[Any], bool]]]:
    """Issue 19's cost targets, measured by this section (None where it did not run)."""
    short, short_limited = _row(results, "short", "no_limits"), _row(results, "short", "limits")
    big = (results.get("bill") or {}).get("big_inputs") or 2048
    ledger = (results.get("bill") or {}).get("kinesis_ledger") or {}
    kinesis = _pick(ledger, "at_requests_per_month", str(ledger.get("target_volume")))
    return [
        ("#19 one short query, HTTP API, all-in, USD per 1M requests (AWS-typical waits)",
         "<= 2.00", _pick(short, *TYPICAL, "usd_per_million_units", "http_api"),
         lambda v: v <= 2.0),
        ("#19 one short query, Function URL, all-in, USD per 1M requests (AWS-typical waits)",
         "<= 0.60", _pick(short, *TYPICAL, "usd_per_million_units", "function_url"),
         lambda v: v <= 0.6),
        ("#19 one short query, Kinesis ledger, HTTP API, all-in with shard-hours at 100M "
         "requests a month, USD per 1M (AWS-typical waits)", "<= 2.00",
         _pick(kinesis, "usd_per_million_units", "http_api"), lambda v: v <= 2.0),
        ("#19 one short query, Kinesis ledger, Function URL, all-in with shard-hours at 100M "
         "requests a month, USD per 1M (AWS-typical waits)", "<= 0.60",
         _pick(kinesis, "usd_per_million_units", "function_url"), lambda v: v <= 0.6),
        ("#19 32 inputs per request, Kinesis ledger, all-in, USD per 1M tokens (AWS-typical "
         "waits; shard-hours apart: under 0.0003 at 100M requests a month)", "<= 0.005",
         _pick(_row(results, "inputs_32", "kinesis_ledger"), *TYPICAL, "usd_per_million_tokens",
               "http_api"),
         lambda v: v <= 0.005),
        ("#19 floor of a short query with a per-request durable ledger, Function URL, USD per "
         "1M", "<= 0.60 (shows whether the row above can be met)",
         _pick(results.get("bill") or {}, "floor", "floor", "usd_per_million", "function_url"),
         lambda v: v <= 0.6),
        ("#19 32 inputs per request, all-in, USD per 1M tokens (AWS-typical waits)", "<= 0.005",
         _pick(_row(results, "inputs_32", "no_limits"), *TYPICAL, "usd_per_million_tokens",
               "http_api"),
         lambda v: v <= 0.005),
        (f"#19 {big} inputs per request, all-in, USD per 1M tokens (AWS-typical waits)",
         "<= 0.0025",
         _pick(_row(results, "big", "no_limits"), *TYPICAL, "usd_per_million_tokens",
               "http_api"),
         lambda v: v <= 0.0025),
        ("#19 DynamoDB write units per query, no limits", "<= 1",
         _pick(short, "write_units_per_unit"), lambda v: v <= 1),
        ("#19 DynamoDB write units per query, RPM/TPM + monthly", "<= 2",
         _pick(short_limited, "write_units_per_unit"), lambda v: v <= 2),
        ("#21 10M one-sentence inputs through the Batch API, all-in, USD", "<= 0.75",
         _pick(results.get("bill") or {}, "batch_ten_million", "usd_at_memory_mb",
               str(_pick(results.get("bill") or {}, "batch_ten_million",
                         "template_memory_mb"))),
         lambda v: v <= 0.75),
        ("#21 ledger write units per batch line", "<= 0.01",
         _pick(_row(results, "batch", "no_limits"), "ledger_write_units_per_unit"),
         lambda v: v <= 0.01),
    ]  # fmt: skip


def render(results: dict[str, Any]) -> list[str]:
    r = results.get("bill") or {}
    lines = ["### The whole bill, from counted calls", ""]
    if r.get("status") != "ok":
        return lines + _failed(r)
    big = r["big_inputs"]
    body = []
    for row in r["rows"]:
        per_unit, tokens = row["usd_per_million_units"], row["usd_per_million_tokens"]
        body.append([
            label(row, big), KEYS[row["key"]], row["tokens_per_unit"],
            f"{row['write_units_per_unit']:g} / {row['read_units_per_unit']:g} "
            f"(ledger {row.get('ledger_write_units_per_unit', 0):g})",
            row["log_bytes_per_unit"]["total_with_event_overhead"], row["billed_ms_per_unit"],
            f"{usd(per_unit['http_api'])} / {usd(per_unit['rest_api'])} / "
            f"{usd(per_unit['function_url'])}",
            f"{usd(tokens['http_api'], 4)} / {usd(tokens['function_url'], 4)}",
            f"{usd(row['openai_usd_per_million_units'])} ({row['openai_usd_per_million_tokens']}"
            " per 1M tokens)", f"{row['ratio_to_openai']}x",
            usd(row["transfer_out_usd_per_million_units"]),
        ])  # fmt: skip
    lines += table(
        ["workload", "key", "tokens", "DynamoDB WRU / RRU (usage ledger WRU)", "log bytes",
         "billed ms",
         "USD per 1M (HTTP API / REST / Function URL)", "USD per 1M tokens (HTTP API / URL)",
         "OpenAI 3-small USD per 1M", "ours / OpenAI (HTTP API)",
         "+ transfer out to the internet, USD per 1M"],
        body,
    )  # fmt: skip
    lines += ["Share of the bill behind the HTTP API, percent (the next lever is the largest):", ""]
    lines += table(
        ["workload", "key", *(name for _, name in PARTS)],
        [
            [
                label(row, big),
                KEYS[row["key"]],
                *(row["shares_percent"].get(k, 0.0) for k, _ in PARTS),
            ]
            for row in r["rows"]
        ],
    )
    lines += ["Calls per request (per line for the batch), as counted:", ""]
    lines += table(
        ["workload", "key", "calls"],
        [
            [label(row, big), KEYS[row["key"]],
             ", ".join(f"{name} {n:g}" for name, n in row["calls_per_unit"].items())]
            for row in r["rows"]
        ],
    )  # fmt: skip
    t = r["tracing"]
    lines += [
        "Requests as the openai client sends them (encoding_format base64, gzip accepted). "
        f"Per request, or per line of a batch of {r['rows'][-1]['units']} lines in "
        f"{r['batch_shard_lines']}-line shards (its upload, creation, planning, shards, "
        "finalization, one status read and the output download, divided by its lines). "
        f"Lambda at {r['memory_mb']} MB ({r['memory_source']}), arm64 prices, billed ms from "
        f"this machine's wall time at {r['ort_threads']} ONNX thread(s) (median for requests, "
        "sum for a batch). DynamoDB units by DynamoDB's rounding from the request and response "
        "(DynamoDB Local's ReturnConsumedCapacity where it is not lower). Log bytes: the EMF "
        "line(s) and WARN+ records as counted, plus Lambda's platform.start and platform.report "
        f"lines ({r['platform_bytes_per_invocation']} bytes per invocation) and 26 bytes per "
        f"event. X-Ray: {t['sampling']:g} of invocations traced ({t['source']}). The Function "
        "URL column drops the front door's charge. Not in the totals: data transfer out "
        "(the response bytes at $0.09/GB to the internet, its own column: what applies "
        "depends on where the client is), cold starts (below, per cold start), the batch "
        "poller's idle receives, storage. "
        "DynamoDB Local reports a transaction below DynamoDB's rule (the JSON keeps both "
        "figures). Tokens are our tokenizer's; OpenAI bills its own.",
        "",
    ]
    lines += bill_report_levers.render(r)
    lines += _extras(r)
    lines += _ten_million(r.get("batch_ten_million"))
    lines += [f"Prices as of {r['price_date']}, us-east-1 (bench/prices.py):", ""]
    lines += table(
        ["price", "USD", "per", "unit", "source"],
        [[p["name"], p["usd"], f"{p['per']:g}", p["unit"], p["source"]] for p in r["prices"]],
    )
    return lines


def _extras(r: dict[str, Any]) -> list[str]:
    """The usage aggregator's share, a cold start's price, provisioned capacity's break-even."""
    lines = []
    for key, a in (r.get("usage_aggregator") or {}).items():
        lines += [
            f"Usage aggregator ({KEYS[key]}), in the totals above: {a['write_units_per_batch']} "
            f"write units and {a['billed_ms_per_batch']} billed ms (256 MB) per batch of "
            f"{a['records_per_batch']:g} request records (one key at "
            f"{a.get('requests_per_second_per_key', 1):g} request/s over the template's "
            f"{a.get('window_s', 10):g} s window): USD {a['usd_per_record'] * 1e6:.3f} per 1M "
            "requests; "
            f"a request alone in its window costs USD {a['worst_case_usd_per_record'] * 1e6:.2f} "
            "per 1M.",
            "",
        ]
    cold = r.get("cold_start")
    if cold:
        lines += [
            f"A cold start: Lambda bills its init ({cold['init_s']} s, this run's cold_start "
            f"median less the first answer) at {cold['memory_mb']} MB: USD "
            f"{cold['usd_per_million_cold_starts']} per 1M cold starts. SnapStart instead: USD "
            f"{cold['snapstart_restore_usd_per_million']} per 1M restores plus USD "
            f"{cold['snapstart_cache_usd_per_version_month']} a month per published version.",
            "",
        ]
    for p in r.get("provisioned") or []:
        lines += [
            f"DynamoDB for steady short queries ({KEYS[p['key']]}, {p['write_units']:g} WRU + "
            f"{p['read_units']:g} RRU a request): on demand USD "
            f"{p['on_demand_usd_per_million']:.3f} per 1M; provisioned, fully used, USD "
            f"{p['provisioned_usd_per_million_fully_used']:.3f}. Provisioned costs less from "
            f"{p['min_requests_per_second']:.2f} requests/s around the clock while peak/mean "
            f"stays under {p['max_peak_to_mean']:.2f}; at auto scaling's 70% target it saves "
            f"{100 * p['saving_at_peak_to_mean_1_43']:.0f}%.",
            "",
        ]
    return lines


def _ten_million(t: dict[str, Any] | None) -> list[str]:
    """Issue 21's figure: 10M one-sentence inputs as batch lines, all-in, per worker memory."""
    if not t:
        return []
    sizes = list(t["usd_at_memory_mb"])
    parts = list(t["parts_usd_at_memory_mb"][sizes[0]])
    rows = [
        [part, *(f"${t['parts_usd_at_memory_mb'][mb][part]:.4f}" for mb in sizes), ""]
        for part in parts
    ]
    rows.append(
        ["total", *(f"${t['usd_at_memory_mb'][mb]:.3f}" for mb in sizes),
         f"${t['openai_batch_usd']:.2f}"]
    )  # fmt: skip
    return [
        f"10M one-sentence inputs ({t['tokens_per_input']} tokens each) through the Batch "
        f"API, all-in: {t.get('batches', '?')} batches of {t.get('batch_lines', '?'):,} lines "
        f"in {t.get('shards', '?'):,} shards of {t.get('shard_lines', '?'):,}, scaled from a "
        f"measured batch of {t.get('measured_lines', '?'):,} lines "
        f"({t.get('measured_shards', '?')} full shards): {t.get('scaling', '')}. The worker "
        "stretched below one vCPU; per worker memory (template: "
        f"{t['template_memory_mb']} MB), beside OpenAI's batch price:",
        "",
        *table(["USD", *(f"{int(mb):,} MB" for mb in sizes), "OpenAI 3-small batch"], rows),
    ]


def _failed(part: dict[str, Any]) -> list[str]:
    if not part:
        return ["_bill: not run_", ""]
    reason = (part.get("error") or part.get("reason") or "").splitlines()[:1]
    return [f"_bill: {part.get('status', 'missing')}: {reason}_", ""]
