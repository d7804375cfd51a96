"""The `bill` section's second half: billed time split into work and waits (measured and at
AWS-typical latencies), the totals at AWS-typical waits (what the targets read), the floor of
a per-request durable ledger with the designs that go below it, and the levers above it."""

from __future__ import annotations

from typing import Any

from bench.bill_tables import KEYS, label, table, usd


def render(r: dict[str, Any]) -> list[str]:
    lines = _billed_time(r)
    floor = r.get("floor")
    if floor:
        lines += _floor(floor)
        lines += _windows(floor.get("aggregator_windows") or [], r)
        lines += _emf(floor.get("emf"))
    return lines


def _waits(rows: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(rows.items())) or "none"


def _billed_time(r: dict[str, Any]) -> list[str]:
    body = []
    for row in r["rows"]:
        t, typical = row.get("billed_time"), row.get("aws_typical")
        if not t or not typical:
            continue
        per_unit = typical["usd_per_million_units"]
        tokens = typical["usd_per_million_tokens"]
        body.append([
            label(row, r["big_inputs"]), KEYS[row["key"]], t["billed_ms_local"], t["own_ms"],
            _waits(t["waits_ms_local"]), _waits(t["waits_ms_aws_typical"]),
            t["billed_ms_aws_typical"],
            f"{usd(per_unit['http_api'])} / {usd(per_unit['function_url'])}",
            f"{usd(tokens['http_api'], 4)} / {usd(tokens['function_url'], 4)}",
        ])  # fmt: skip
    if not body:
        return []
    return [
        "Billed time: the request's own work and its waits on AWS, measured here (DynamoDB "
        "Local, moto on loopback) and at AWS-typical latencies (bench/shard_profile.py "
        "TYPICAL_MS, sources there: DynamoDB 5 ms, a transaction 10, S3 30, SQS 10); the "
        "totals at AWS-typical waits (the targets read these; the measured ones are above):",
        "",
        *table(
            ["workload", "key", "billed ms measured", "own work ms", "waits ms measured",
             "waits ms AWS-typical", "billed ms AWS-typical",
             "USD per 1M, AWS-typical (HTTP API / URL)",
             "USD per 1M tokens, AWS-typical (HTTP API / URL)"],
            body,
        ),
    ]  # fmt: skip


def _floor(f: dict[str, Any]) -> list[str]:
    fl, parts = f["floor"], f["floor"]["parts_usd_per_million"]
    above = f.get("short_query_above_floor_usd_per_million") or {}
    lines = [
        "The floor of a short query with a durable per-request ledger (no compute, no log, no "
        f"aggregator): Lambda's request {parts['lambda_request']:.3f} + one write unit "
        f"{parts['ledger_write_unit']:.3f} + its {fl['ledger_wait_ms']:g} ms AWS-typical wait "
        f"at {fl['memory_mb']} MB {parts['ledger_wait']:.3f} = USD "
        f"{fl['usd_per_million']['function_url']:.3f} per 1M behind a Function URL, "
        f"{fl['usd_per_million']['http_api']:.3f} behind the HTTP API (+"
        f"{parts['front_door_http_api']:.2f}){_with_line(fl)}. The measured short query "
        "(AWS-typical waits) is "
        f"{usd(above.get('http_api'), 3)} / {usd(above.get('function_url'), 3)} above it "
        "(own work, logs, the usage aggregator). So the Function URL's USD 0.60 is out of "
        "reach while each request is written durably on its own; designs that amortise the "
        "ledger below one write unit (docs/cost.md says what each gives up):",
        "",
    ]
    body = [
        [d["design"], usd(d["usd_per_million"]["http_api"], 3),
         usd(d["usd_per_million"]["function_url"], 3), usd(d["fixed_usd_per_month"]),
         f"{d['break_even_requests_per_month']:,}" if d["break_even_requests_per_month"]
         else "-"]
        for d in f["designs"]
    ]  # fmt: skip
    return lines + table(
        ["design", "floor USD per 1M, HTTP API", "floor, Function URL", "fixed USD a month",
         "pays against the write unit from requests a month"],
        body,
    )  # fmt: skip


def _with_line(fl: dict[str, Any]) -> str:
    line = fl.get("with_emf_line_usd_per_million")
    if not line:
        return ""
    return (
        f"; with the EMF line every request writes, {line['function_url']:.3f} / "
        f"{line['http_api']:.3f}"
    )


def _windows(windows: list[dict[str, Any]], r: dict[str, Any]) -> list[str]:
    if not windows:
        return []
    agg = (r.get("usage_aggregator") or {}).get("no_limits") or {}
    rates = list(windows[0]["usd_per_million"])
    return [
        "The usage aggregator's share, USD per 1M requests (AWS-typical waits), per batching "
        "window (UsageAggregationWindowSeconds; GET /v1/usage lags by about the window) and "
        f"a key's requests per second; the totals take {agg.get('window_s', '?')} s at "
        f"{agg.get('requests_per_second_per_key', '?')} request/s:",
        "",
        *table(
            ["window s", *(f"{rate} req/s a key" for rate in rates)],
            [[w["window_s"], *(w["usd_per_million"][rate] for rate in rates)] for w in windows],
        ),
    ]


def _emf(emf: dict[str, int] | None) -> list[str]:
    if not emf:
        return []
    return [
        f"The short query's EMF line: {emf['line']} bytes, of which {emf['directive']} are the "
        "`_aws` directive EMF requires on every line (timestamp, namespace, dimension and "
        "metric names); only lines carrying several requests would share it.",
        "",
    ]
