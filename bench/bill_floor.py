"""What a short query cannot cost less than while each request is written durably on its
own, and the levers above that floor (issue 19), from the bill's own figures.

- The floor: the front door's request, Lambda's request fee, one on-demand write unit for the
  request's ledger item, and the billed wait for that write at AWS's typical DynamoDB latency
  (bench/shard_profile.py: TYPICAL_MS) at the template's memory. A request with no compute,
  no log line and no aggregator still pays it.
- Designs that amortise the ledger below one write unit, at the same per-request prices:
  records delivered through the function's own log (a subscription aggregates them with a
  per-log-stream watermark) and Kinesis Data Streams (a PutRecord a request, aggregated with a
  per-shard sequence watermark); what each gives up is stated in docs/cost.md.
- The usage aggregator's share per window and traffic, and the EMF line's fixed directive.
"""

from __future__ import annotations

import json
from typing import Any

from bench.bill_aggregator import records_per_batch
from bench.prices import PRICES
from bench.shard_profile import TYPICAL_MS

HOURS_PER_MONTH = 730  # AWS's pricing month
# Kinesis publishes no PutRecord latency; taken as SQS's (a small HTTPS request in region).
KINESIS_TYPICAL_MS = TYPICAL_MS["sqs"]
# A usage record carried in the log line beside the EMF figures: request id, model,
# dimensions, encoding, `user` and the timestamp the line lacks (handler/records.py's item
# less what the EMF line already says: key, inputs, tokens, latency). An estimate.
LOG_RECORD_EXTRA_BYTES = 120
LOG_EVENT_BYTES = 26  # CloudWatch Logs' overhead per event (bench/bill.py)
WINDOWS_S = (10, 30, 60, 120)  # 120: what the 60 s tumbling window leaves of a longer one
RATES_PER_KEY = (0.1, 1.0, 10.0)
EMF_DIRECTIVE_KEY = "_aws"


def _each(name: str) -> float:
    return PRICES[name].each


def wait_usd(ms: float, memory_mb: int) -> float:
    """Lambda duration for `ms` of waiting at `memory_mb` (in 1 ms steps)."""
    return int(-(-ms // 1)) / 1000 * memory_mb / 1024 * _each("lambda_arm64_gb_second")


def _doors(per_request: float) -> dict[str, float]:
    """USD per 1M requests behind each front door, given what the function side costs."""
    return {
        "http_api": (_each("http_api_request") + per_request) * 1e6,
        "function_url": (_each("function_url_request") + per_request) * 1e6,
    }


def floor(memory_mb: int) -> dict[str, Any]:
    """The per-request durable ledger's floor: fixed charges plus its billed write wait."""
    wait = wait_usd(TYPICAL_MS["dynamodb"], memory_mb)
    fixed = _each("lambda_request") + _each("dynamodb_write_unit")
    return {
        "usd_per_million": {d: round(v, 4) for d, v in _doors(fixed + wait).items()},
        "parts_usd_per_million": {
            "lambda_request": round(_each("lambda_request") * 1e6, 4),
            "ledger_write_unit": round(_each("dynamodb_write_unit") * 1e6, 4),
            "ledger_wait": round(wait * 1e6, 4),
            "front_door_http_api": round(_each("http_api_request") * 1e6, 4),
        },
        "ledger_wait_ms": TYPICAL_MS["dynamodb"],
        "memory_mb": memory_mb,
    }


def designs(memory_mb: int) -> list[dict[str, Any]]:
    """Floors of ledgers amortised below one write unit (their aggregators' batches left out,
    as in `floor`). The log-delivered record rides in the line the request already logs, so
    it adds bytes, not an event."""
    logs = LOG_RECORD_EXTRA_BYTES / 1024**3 * _each("logs_ingest_gb")
    kinesis = _each("kinesis_put_unit") + wait_usd(KINESIS_TYPICAL_MS, memory_mb)
    kinesis_month = _each("kinesis_shard_hour") * HOURS_PER_MONTH
    saving = (_each("dynamodb_write_unit") + wait_usd(TYPICAL_MS["dynamodb"], memory_mb)) - kinesis
    return [
        {
            "design": "log-delivered ledger, per-log-stream watermarks",
            "usd_per_million": _rounded(_doors(_each("lambda_request") + logs)),
            "fixed_usd_per_month": 0.0,
            "break_even_requests_per_month": 0,
            "record_bytes_in_log": LOG_RECORD_EXTRA_BYTES,
        },
        {
            "design": "Kinesis Data Streams (1 provisioned shard), per-shard sequence watermarks",
            "usd_per_million": _rounded(_doors(_each("lambda_request") + kinesis)),
            "fixed_usd_per_month": round(kinesis_month, 2),
            "break_even_requests_per_month": round(kinesis_month / saving) if saving > 0 else None,
            "put_wait_ms": KINESIS_TYPICAL_MS,
        },
    ]


def _rounded(doors: dict[str, float]) -> dict[str, float]:
    return {d: round(v, 4) for d, v in doors.items()}


def aggregator_windows(batch_usd: float) -> list[dict[str, Any]]:
    """The usage aggregator's USD per 1M requests per batching window and per key's traffic,
    from one batch's all-in price (`batch_usd`, AWS-typical waits)."""
    return [
        {
            "window_s": window,
            "usd_per_million": {
                str(rate): round(batch_usd / records_per_batch(window, rate) * 1e6, 4)
                for rate in RATES_PER_KEY
            },
        }
        for window in WINDOWS_S
    ]


def emf_directive_bytes(line: dict[str, Any]) -> dict[str, int]:
    """Bytes of an EMF document as one line, and of its `_aws` directive (the part the EMF
    specification requires on every line: timestamp, namespace, dimension and metric names)."""
    whole = len(json.dumps(line, separators=(",", ":")).encode())
    rest = {k: v for k, v in line.items() if k != EMF_DIRECTIVE_KEY}
    return {"line": whole, "directive": whole - len(json.dumps(rest, separators=(",", ":")))}


def figures(bill: dict[str, Any]) -> dict[str, Any]:
    """The floor, the designs, the aggregator's windows, and where the short query stands."""
    memory_mb = bill["memory_mb"]
    short = next(
        (r for r in bill["rows"] if r["workload"] == "short" and r["key"] == "no_limits"), None
    )
    aggregator = (bill.get("usage_aggregator") or {}).get("no_limits")
    found = floor(memory_mb)
    above = None
    if short:
        typical = short["aws_typical"]["usd_per_million_units"]
        above = {d: round(typical[d] - found["usd_per_million"][d], 4) for d in typical
                 if d in found["usd_per_million"]}  # fmt: skip
    line = (short or {}).get("emf_line")
    emf = emf_directive_bytes(line) if line else None
    if emf:  # the floor again with the one EMF line a request writes (+ Logs' event overhead)
        logged = (emf["line"] + 1 + LOG_EVENT_BYTES) / 1024**3 * _each("logs_ingest_gb") * 1e6
        found["with_emf_line_usd_per_million"] = {
            d: round(v + logged, 4) for d, v in found["usd_per_million"].items()
        }
    return {
        "emf": emf,
        "floor": found,
        "short_query_above_floor_usd_per_million": above,
        "designs": designs(memory_mb),
        "aggregator_windows": aggregator_windows(aggregator["usd_per_batch_aws_typical"])
        if aggregator
        else [],
    }
