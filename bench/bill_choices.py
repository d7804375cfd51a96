"""Figures beside the bill that choose a deployment: what a cold start costs (and SnapStart
instead), and where DynamoDB's provisioned capacity would cost less than on demand."""

from __future__ import annotations

from typing import Any

from bench import billing


def cold_start_price(cold: dict[str, Any] | None, memory_mb: int) -> dict[str, Any] | None:
    """A cold start's price from the cold_start section of the same run (None without it):
    Lambda bills the init phase (interpreter, imports, model load; the first answer is
    billed as the invocation); SnapStart's restore and cache beside it."""
    ours = (cold or {}).get("ours")
    if not ours:
        return None
    init_s = ours["total_s"] - ours["first_answer_s"]
    usd = billing.init_usd(init_s, memory_mb)
    snapstart = billing.snapstart_usd(memory_mb)
    return {
        "init_s": round(init_s, 4),
        "usd_per_million_cold_starts": round(usd * 1e6, 2),
        "snapstart_restore_usd_per_million": round(snapstart["restore"] * 1e6, 2),
        "snapstart_cache_usd_per_version_month": round(snapstart["cache_month"], 2),
        "memory_mb": memory_mb,
    }


def provisioned(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """On-demand against provisioned capacity for steady short queries, per key kind."""
    out = []
    for row in rows:
        if row["workload"] != "short":
            continue
        writes = row["write_units_per_unit"] + row["aggregator_write_units_per_unit"]
        figures = billing.provisioned_break_even(writes, row["read_units_per_unit"])
        out.append(
            {"key": row["key"], "write_units": round(writes, 4),
             "read_units": row["read_units_per_unit"],
             **{k: round(v, 4) for k, v in figures.items()}}
        )  # fmt: skip
    return out
