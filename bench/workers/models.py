"""One process, one load policy: import handler.app with the MODELS it is given (the cold
start), then the first request to each model, then warm single-input requests to each.
Prints one JSON line and exits. The orchestrator (bench/sections.models) runs it per policy.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

from bench.events import SHORT_TEXT, LambdaContext, v2_embeddings_event  # noqa: E402
from bench.stats import median  # noqa: E402


def request_ms(handler: object, model: str) -> float:
    event = v2_embeddings_event({"input": SHORT_TEXT, "model": model})
    started = time.perf_counter()
    response = handler(event, LambdaContext())  # type: ignore[operator]
    elapsed = (time.perf_counter() - started) * 1000
    if response.get("statusCode") != 200:
        raise SystemExit(f"{model} answered {response.get('statusCode')}: {response}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm", type=int, default=20, help="warm requests per model")
    args = parser.parse_args()
    from handler.app import handler  # the cold start: settings, models, usage clients, app

    init_ms = (time.perf_counter() - STARTED) * 1000
    models = [m["id"] for m in json.loads(os.environ["MODELS"])]
    first = {model: request_ms(handler, model) for model in models}
    warm = {model: [request_ms(handler, model) for _ in range(args.warm)] for model in models}
    print(
        json.dumps(
            {
                "init_ms": init_ms,
                "first_request_ms": first,
                "warm_single_ms": {model: median(values) for model, values in warm.items()},
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
