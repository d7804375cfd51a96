"""Summarise the last N requests of a local EMF metrics log: p50/p99, tokens/s, cold starts.

`make serve` appends one EMF line per request to build/serve/metrics.log (METRICS_LOG), the
same lines the function writes to CloudWatch on Lambda; this reads them back so the
dashboard's story can be checked on a laptop:

    .venv/bin/python -m tools.metrics_summary --last 200 build/serve/metrics.log

Lines that are not EMF JSON (anything else in the file) are skipped. The line says only
what has news (handler/metrics.py): a missing `statusCode` is 200, and a request that ran
the model with no Usage* metric had its usage record written (where a recorder is wired, as
on Lambda and under `make serve`).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import Counter, deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from handler.metrics import REPORTED_OUTCOMES

EMBEDDINGS = "/v1/embeddings"


def read_last(lines: Iterable[str], last: int) -> list[dict[str, Any]]:
    """The last `last` requests' EMF documents among `lines` (every request's line has a
    Latency; the batch worker's shard lines do not)."""
    kept: deque[dict[str, Any]] = deque(maxlen=last)
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document and "Latency" in document:
            kept.append(document)
    return list(kept)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (what a small sample supports honestly)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def status_of(document: dict[str, Any]) -> int:
    return int(document.get("statusCode", 200))


def usage_outcome(document: dict[str, Any]) -> str | None:
    """The usage record's outcome for a request that ran the model and answered, else None."""
    if "ModelLatency" not in document or status_of(document) // 100 != 2:
        return None
    said = (o for o in REPORTED_OUTCOMES if f"Usage{o.capitalize()}" in document)
    return next(said, "written")


def summarise(documents: list[dict[str, Any]]) -> dict[str, Any]:
    embeddings = [d for d in documents if d.get("route") == EMBEDDINGS and "Tokens" in d]
    latency = [float(d["Latency"]) for d in embeddings]
    model_ms = sum(float(d["ModelLatency"]) for d in embeddings)
    tokens = sum(int(d["Tokens"]) for d in embeddings)
    statuses = Counter(f"{status_of(d) // 100}xx" for d in documents)
    cold = [d for d in documents if d.get("ColdStart")]
    stamps = [int(d["_aws"]["Timestamp"]) for d in embeddings]
    window_s = (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else 0.0
    return {
        "requests": len(documents),
        "status": dict(sorted(statuses.items())),
        "embeddings_requests": len(embeddings),
        "inputs": sum(int(d["Inputs"]) for d in embeddings),
        "tokens": tokens,
        "latency_p50_ms": percentile(latency, 0.50) if latency else None,
        "latency_p99_ms": percentile(latency, 0.99) if latency else None,
        "latency_mean_ms": round(statistics.fmean(latency), 3) if latency else None,
        # tokens over the wall time between the first and the last embeddings request
        "tokens_per_second": round(tokens / window_s, 1) if window_s else None,
        # tokens per second of model time: what one busy container sustains
        "tokens_per_model_second": round(tokens / (model_ms / 1000), 1) if model_ms else None,
        "cold_starts": len(cold),
        "init_ms": [d["InitDuration"] for d in cold if "InitDuration" in d],
        "usage": dict(Counter(o for d in documents if (o := usage_outcome(d)) is not None)),
    }


def render(summary: dict[str, Any]) -> str:
    rows = [f"{name:<24} {value}" for name, value in summary.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logfile", type=Path, help="EMF lines, e.g. build/serve/metrics.log")
    parser.add_argument("--last", type=int, default=100, help="requests to summarise")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if args.last < 1:
        parser.error("--last must be at least 1")
    if not args.logfile.is_file():
        print(
            f"no metrics log at {args.logfile}: start `make serve` and send requests",
            file=sys.stderr,
        )
        return 1
    with args.logfile.open(encoding="utf-8") as lines:
        documents = read_last(lines, args.last)
    summary = summarise(documents)
    print(json.dumps(summary) if args.json else render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
