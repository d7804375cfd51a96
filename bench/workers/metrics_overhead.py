"""What the per-request metrics add to a request: EMF line on vs off (and Prometheus too).

One process, one embedder, three Mangum handlers over apps built by `create_app` without the
usage hooks: metrics off (METRICS_ENABLED=false: the middleware still fills its record, no
sink writes it), the EMF sink as deployed (one JSON line per request, written to /dev/null
here, as stdout is this worker's result channel), and EMF plus the Prometheus sink that
`make serve` can add. The same single-input request takes turns on the three, the order
rotated every round, so drift on the shared machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from typing import Any

from bench.events import MODEL, SHORT_TEXT, LambdaContext, v2_embeddings_event
from bench.stats import median, summary_ms

ARMS = ("off", "emf", "emf_prometheus")


def call(handler: Any) -> float:
    event = v2_embeddings_event({"input": SHORT_TEXT, "model": MODEL}, {})
    started = time.perf_counter()
    response = handler(event, LambdaContext())
    elapsed = time.perf_counter() - started
    if response.get("statusCode") != 200:
        raise SystemExit(f"request answered {response.get('statusCode')}: {response.get('body')}")
    return elapsed


def measure(requests: int, warmup: int) -> dict[str, Any]:
    from handler.embedder import load_embedder
    from handler.factory import create_app
    from handler.lambda_adapter import lambda_handler_for
    from handler.prometheus import install
    from handler.settings import Settings

    base = replace(Settings.from_env(), auth_enabled=False)
    embedder = load_embedder(base.model_dir, threads=base.onnx_threads)
    apps = {
        "off": create_app(replace(base, metrics_enabled=False), embedder),
        "emf": create_app(replace(base, metrics_log=os.devnull), embedder),
        "emf_prometheus": create_app(replace(base, metrics_log=os.devnull), embedder),
    }
    install(apps["emf_prometheus"])
    handlers = {name: lambda_handler_for(app) for name, app in apps.items()}
    for handler in handlers.values():
        for _ in range(warmup):
            call(handler)
    times: dict[str, list[float]] = {name: [] for name in ARMS}
    for round_ in range(requests):
        shift = round_ % len(ARMS)
        for name in ARMS[shift:] + ARMS[:shift]:
            times[name].append(call(handlers[name]))
    off = median(times["off"])
    result: dict[str, Any] = {"requests": requests, "warmup": warmup}
    for name in ARMS:
        result[name] = summary_ms(times[name])
        result[f"{name}_p50_ms"] = round(median(times[name]) * 1000, 3)
        paired = [t - o for t, o in zip(times[name], times["off"], strict=True)]
        result[f"{name}_added_p50_ms"] = round((median(times[name]) - off) * 1000, 3)
        result[f"{name}_paired_p50_ms"] = round(median(paired) * 1000, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(measure(args.requests, args.warmup)))


if __name__ == "__main__":
    main()
