"""Auth + quota + usage-write overhead section (issue 4's <= 15 ms p50 against DynamoDB Local)."""

from __future__ import annotations

from typing import Any

from bench.config import SERVICE_PY, Sizes
from bench.proc import run_worker


def overhead(sizes: Sizes, env: dict[str, str]) -> dict[str, Any]:
    args = ["--requests", str(sizes.usage_requests), "--warmup", str(sizes.usage_warmup)]
    return run_worker(SERVICE_PY, "bench.workers.usage_overhead", args, env)
