"""Medians and percentiles: the machine is shared and noisy, so we quote these, never means."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0-100) by linear interpolation; one value is its own percentile."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds of a list of durations in seconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
