"""A workload's bill with its waits on AWS at AWS-typical latencies (bench/waits.py), beside
the bill as measured here: DynamoDB Local answers a PutItem in several milliseconds on this
machine's loopback, DynamoDB in single digits inside a region, and Lambda bills either wait
as duration. The targets read this figure; the measured one stays printed beside it.
"""

from __future__ import annotations

from typing import Any

from bench import billing


def _per_unit(per: dict[str, float], kind: str) -> dict[str, float]:
    prefix = f"wait_ms:{kind}:"
    return {k.removeprefix(prefix): round(v, 3) for k, v in per.items() if k.startswith(prefix)}


def billed_time(per: dict[str, float]) -> dict[str, Any]:
    """A unit's billed ms split: its own work (wall time less its on-thread waits, unrounded;
    the median for alike requests, as their billed ms) and the waits per service (their
    mean), measured and at AWS-typical latencies; waits made off the request's thread
    (`overlapped`) ran beside its work and are in neither figure."""
    return {
        "billed_ms_local": round(per.get("billed_ms", 0.0), 3),
        "billed_ms_aws_typical": round(per.get("billed_ms_aws_typical", 0.0), 3),
        "own_ms": round(per.get("own_ms", 0.0), 3),
        "waits_ms_local": _per_unit(per, "local"),
        "waits_ms_aws_typical": _per_unit(per, "aws_typical"),
        "overlapped_ms_local": _per_unit(per, "overlapped"),
    }


def aws_typical(
    per: dict[str, float],
    memory_mb: int,
    aggregator_usd: float | None,
    tokens_per_unit: float | None,
) -> dict[str, Any]:
    """The unit's USD per million, per front door and part, at AWS-typical waits
    (`aggregator_usd`: the usage aggregator's share per request record, likewise)."""
    typical = {**per, "billed_ms": per.get("billed_ms_aws_typical", per.get("billed_ms", 0.0))}
    doors = {}
    for door in billing.FRONT_DOORS:
        parts = billing.price(typical, memory_mb, door)
        if aggregator_usd is not None:
            parts["usage_aggregator"] = aggregator_usd
        doors[door] = {k: v * 1e6 for k, v in parts.items()}
    total = {door: sum(p.values()) for door, p in doors.items()}
    return {
        "usd_per_million_units": {d: round(t, 4) for d, t in total.items()},
        "usd_per_million_tokens": {
            d: (round(t / tokens_per_unit, 5) if tokens_per_unit else None)
            for d, t in total.items()
        },
        "parts_usd_per_million_units": {k: round(v, 5) for k, v in doors["http_api"].items()},
        "shares_percent": billing.shares(doors["http_api"]),
    }
