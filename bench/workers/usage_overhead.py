"""What auth, the quota check and the usage write add to a request, against DynamoDB Local.

One process, one embedder, two Mangum handlers: the deployed one (`handler.app`, imported with
AUTH_ENABLED=true against the bench's DynamoDB Local, see bench/dynamo.py) and the same app
built by `create_app` without the usage hooks. The same single-input request alternates
between them (order swapped each round, so drift hits both); the bench key has rpm/tpm/monthly
limits, so every request runs the quota gate. Afterwards the usage table must hold one record
per authenticated request, or the figure would be measuring nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from bench.dynamo import requests_recorded
from bench.events import MODEL, SHORT_TEXT, LambdaContext, v2_embeddings_event
from bench.stats import median, summary_ms


def call(handler: Any, headers: dict[str, str]) -> float:
    event = v2_embeddings_event({"input": SHORT_TEXT, "model": MODEL}, headers)
    started = time.perf_counter()
    response = handler(event, LambdaContext())
    elapsed = time.perf_counter() - started
    if response.get("statusCode") != 200:
        raise SystemExit(f"request answered {response.get('statusCode')}: {response.get('body')}")
    return elapsed


def measure(requests: int, warmup: int) -> dict[str, Any]:
    """Needs the environment of bench.dynamo.dynamodb_local (endpoint, tables, a bench key)."""
    os.environ["AUTH_ENABLED"] = "true"
    secret = os.environ["BENCH_API_KEY"]
    key_id = os.environ["BENCH_API_KEY_ID"]

    import handler.app as deployed
    from handler.factory import create_app
    from handler.lambda_adapter import lambda_handler_for

    recorded_before = requests_recorded(dict(os.environ), key_id)
    off_app = create_app(deployed.settings, deployed.models)  # no auth, quota or usage hooks
    arms = {
        "on": (deployed.handler, {"authorization": f"Bearer {secret}"}),
        "off": (lambda_handler_for(off_app, deployed.settings.api_base_path), {}),
    }
    times: dict[str, list[float]] = {"on": [], "off": []}
    for handler, headers in arms.values():
        for _ in range(warmup):
            call(handler, headers)
    for round_ in range(requests):
        order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
        for name in order:
            handler, headers = arms[name]
            times[name].append(call(handler, headers))

    recorded = requests_recorded(dict(os.environ), key_id) - recorded_before
    expected = requests + warmup
    if recorded != expected:
        raise SystemExit(
            f"usage table holds {recorded} requests for the key, expected {expected}: "
            "the deployed app is not recording usage, so there is no overhead to measure"
        )
    paired = [on - off for on, off in zip(times["on"], times["off"], strict=True)]
    return {
        "requests": requests,
        "recorded_requests": recorded,
        "off": summary_ms(times["off"]),
        "on": summary_ms(times["on"]),
        "off_p50_ms": round(median(times["off"]) * 1000, 3),
        "on_p50_ms": round(median(times["on"]) * 1000, 3),
        "overhead_p50_ms": round((median(times["on"]) - median(times["off"])) * 1000, 3),
        "paired_difference_p50_ms": round(median(paired) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    # Untimed requests per arm first: fill the key cache and botocore's connection pool, and
    # let DynamoDB Local's JVM compile its hot paths (its first requests are many times slower).
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps(measure(args.requests, args.warmup)))


if __name__ == "__main__":
    main()
