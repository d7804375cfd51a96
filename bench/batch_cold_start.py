"""What turning the Batch API on costs the API function's cold start.

With BATCH_BUCKET set (as template.yaml sets it), importing handler.app also imports boto3 and
the batch modules and builds the S3, DynamoDB and SQS clients (handler/app.py). This runs a
fresh interpreter importing handler.app with and without it, the two arms taking turns, and
prints the medians beside the CPU and the load. No request is made; no AWS is reached.

    .venv/bin/python -m bench.batch_cold_start [rounds]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
CODE = (
    "import time; t = time.perf_counter(); import handler.app; "
    "print((time.perf_counter() - t) * 1000)"
)


def arms() -> dict[str, dict[str, str]]:
    base = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MODEL_DIR": str(REPO / "build" / "model"),
        "AUTH_ENABLED": "false",
        "METRICS_ENABLED": "false",
        "ORT_THREADS": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "unused",
        "AWS_SECRET_ACCESS_KEY": "unused",
    }
    batch = {
        "BATCH_BUCKET": "bucket",
        "BATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/batch",
    }
    return {"without BATCH_BUCKET": base, "with BATCH_BUCKET": {**base, **batch}}


def main(rounds: int) -> None:
    times: dict[str, list[float]] = {name: [] for name in arms()}
    for _ in range(rounds):
        for name, env in arms().items():
            done = subprocess.run(
                [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
            )
            times[name].append(float(done.stdout.strip().splitlines()[-1]))
    print(f"{cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for name, values in times.items():
        print(
            f"{name}: median {statistics.median(values):.0f} ms "
            f"(min {min(values):.0f}, max {max(values):.0f}, n {len(values)})"
        )
    without, with_batch = (statistics.median(v) for v in times.values())
    print(f"ratio {with_batch / without:.2f}x, added {with_batch - without:.0f} ms (median)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
