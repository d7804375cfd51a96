"""`make bench` / `make bench-smoke`: run every section, write JSON, print a table, draw a chart.

Figures never decide the exit code; a section that crashes does (so CI's smoke run catches rot).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    bakeoff,
    batch_wall,
    bill,
    bill_scale,
    cost,
    load,
    machine,
    report,
    sections,
    throughput,
    usage,
)
from bench.config import BENCH_PY, CORPUS, FP32_MODEL_DIR, FULL, RESULTS, SERVICE_PY, SMOKE, Sizes
from bench.corpus import read_corpus, token_counts
from bench.dynamo import dynamodb_local, requests_recorded
from bench.paths import resolve_paths, service_env
from bench.proc import run_worker
from bench.stats import median

SECTIONS = (
    "throughput", "bakeoff", "handler", "cold_start", "memory", "load", "usage_overhead",
    "metrics_overhead", "cost", "batch", "long_inputs", "bill", "models", "encodings",
)  # fmt: skip


def section(
    results: dict[str, Any], name: str, work: Callable[[], dict[str, Any]], only: set[str]
) -> None:
    """Run one section, record its figures or its error, and say how long it took."""
    if name not in only:
        return
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        results[name] = {"status": "ok", **work()}
    except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
        results[name] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        traceback.print_exc()
    results[name]["seconds"] = round(time.perf_counter() - started, 1)
    print(
        f"[bench] {name}: {results[name]['status']} in {results[name]['seconds']} s",
        file=sys.stderr,
        flush=True,
    )


def cost_section(results: dict[str, Any]) -> dict[str, Any]:
    rows = results["throughput"]["rows"]
    ours = {r["threads"]: r for r in rows if r["engine"] == "ours" and r["status"] == "ok"}
    return cost.lambda_cost(
        ours[1]["tokens_per_s"], ours[2]["tokens_per_s"], results["throughput"]["mean_tokens"]
    )


def metrics_overhead(sizes: Sizes) -> dict[str, Any]:
    """EMF metrics on vs off (and Prometheus too), interleaved in one process; no DynamoDB."""
    args = ["--requests", str(sizes.single_requests), "--warmup", str(sizes.usage_warmup)]
    return run_worker(
        SERVICE_PY,
        "bench.workers.metrics_overhead",
        args,
        service_env(resolve_paths(need_source=False)),
    )


def batch_section(sizes: Sizes) -> dict[str, Any]:
    """Batch API lines/s per local worker count (own moto server and DynamoDB Local) in the
    template's shards (BatchShardLines), and what 10 million inputs would take on Lambda at
    that per-worker rate."""
    shard_lines = sizes.batch_shard_lines or cost.parameter_default("BatchShardLines", 5000)
    args = [
        "--lines", str(sizes.batch_shards * shard_lines),
        "--shard-lines", str(shard_lines),
        "--rounds", str(sizes.batch_rounds),
        "--workers", sizes.batch_workers,
    ]  # fmt: skip
    measured = run_worker(
        SERVICE_PY,
        "bench.workers.batch",
        args,
        service_env(resolve_paths(need_source=False)),
        timeout=1800,
    )
    rate = measured["lines_per_s"]["1"]
    cold = [
        run_worker(SERVICE_PY, "bench.workers.batch_cold", [], batch_cold_env())
        for _ in range(sizes.batch_cold_runs)
    ]
    timed = batch_wall.Measured(
        lines_per_s=rate,
        cold_start_s=median([c["cold_start_s"] for c in cold]),
        plan_s=measured["plan_s"],
        finalize_s=measured["finalize_s"],
        lines=measured["lines"],
        shards=measured["shards"],
    )
    job = bill_scale.Job(bill.TEN_MILLION, shard_lines)
    default = cost.parameter_default("BatchWorkerConcurrency", 10)
    return {
        **measured,
        "ten_million": cost.batch_cost(rate, measured["mean_tokens"]),
        "worker_cold_start": {
            "runs": len(cold),
            "median_s": round(timed.cold_start_s, 3),
            "import_s": [round(c["import_s"], 3) for c in cold],
            "first_pass_extra_s": [round(c["first_pass_extra_s"], 3) for c in cold],
        },
        "ten_million_time": {
            "template_concurrency": default,
            "at": {
                str(c): batch_wall.ten_million_time(timed, job, c)
                for c in sorted({default, 100, 1000})
            },
        },
    }


def batch_cold_env() -> dict[str, str]:
    """A batch worker container's settings without AWS behind them (clients built, not called)."""
    return {
        **service_env(resolve_paths(need_source=False)),
        "AUTH_ENABLED": "false",
        "METRICS_ENABLED": "false",
        "ORT_THREADS": "1",
        "BATCH_BUCKET": "bench-cold",
        "BATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/batch",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "unused",
        "AWS_SECRET_ACCESS_KEY": "unused",
    }


def _raise(reason: str) -> Callable[[], dict[str, Any]]:
    def fail() -> dict[str, Any]:
        raise RuntimeError(reason)

    return fail


def load_section(sizes: Sizes, env: dict[str, str]) -> dict[str, Any]:
    """The deployed app with auth on and the bench key on every request (afterwards the key's
    usage must count every answered request once), then the service alone the same way."""
    key_id = env["BENCH_API_KEY_ID"]
    texts = read_corpus(CORPUS)
    before = requests_recorded(env, key_id)
    result = load.run_load(
        texts,
        sizes.load_requests,
        sizes.load_clients,
        {**env, "AUTH_ENABLED": "true"},
        {"authorization": f"Bearer {env['BENCH_API_KEY']}"},
    )
    result["usage_recorded"] = requests_recorded(env, key_id) - before
    result["service_alone"] = load.run_load(
        texts,
        sizes.load_requests,
        sizes.load_clients,
        env,
        app="bench.service:service_app",
        factory=True,
    )
    return result


# The sections that load the source model or its fp32 export (from the torch export venv).
NEED_SOURCE = {"throughput", "bakeoff", "cold_start", "memory"}


def run_all(sizes: Sizes, smoke: bool, only: set[str]) -> dict[str, Any]:
    paths = resolve_paths(need_source=bool(only & NEED_SOURCE))
    texts = read_corpus(CORPUS, sizes.corpus_limit)
    tokens = token_counts(
        texts, Path(str(paths["model_dir"])) / "tokenizer.json", int(paths["max_input_tokens"])
    )
    results: dict[str, Any] = {
        "mode": "smoke" if smoke else "full",
        "started_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine.describe(),
        "artifact": paths["artifact"],
        "sizes": sizes.__dict__,
    }
    st_dir = Path(str(paths["st_dir"]))
    section(results, "throughput", lambda: throughput.run(sizes, paths, tokens), only)
    section(results, "bakeoff", lambda: bakeoff.run(sizes, paths, tokens, smoke), only)
    with ExitStack() as stack:
        try:  # the deployed app records usage on every request, so it needs DynamoDB
            env = {**service_env(paths), **stack.enter_context(dynamodb_local())}
        except Exception as exc:  # noqa: BLE001 - the sections that need it say why they failed
            reason = f"DynamoDB Local did not start: {type(exc).__name__}: {exc}"
            for name in (
                "handler", "cold_start", "memory", "load", "usage_overhead", "long_inputs", "bill",
                "models", "encodings",
            ):  # fmt: skip
                section(results, name, _raise(reason), only)
        else:
            section(results, "handler", lambda: sections.handler_latency(sizes, env), only)
            section(results, "cold_start", lambda: sections.cold_start(sizes, st_dir, env), only)
            section(results, "memory", lambda: sections.memory(sizes, st_dir, env), only)
            section(results, "load", lambda: load_section(sizes, env), only)
            section(results, "usage_overhead", lambda: usage.overhead(sizes, env), only)
            section(results, "long_inputs", lambda: sections.long_inputs(sizes, env), only)
            section(results, "bill", lambda: bill.run(sizes, env, results.get("cold_start")), only)
            section(results, "models", lambda: sections.models(sizes, env, FP32_MODEL_DIR), only)
            section(results, "encodings", lambda: sections.encodings(sizes, env), only)
    section(results, "metrics_overhead", lambda: metrics_overhead(sizes), only)
    section(results, "cost", lambda: cost_section(results), only)
    section(results, "batch", lambda: batch_section(sizes), only)
    results["targets"] = report.targets(results)
    return results


def draw(json_path: Path, png_path: Path) -> str | None:
    """Draw the chart in the bench venv (matplotlib lives only there); returns an error or None."""
    done = subprocess.run(
        [str(BENCH_PY), "-m", "bench.chart", str(json_path), str(png_path)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else done.stderr[-2000:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves the paths run")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results[/smoke])")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument(
        "--render", type=Path, help="measure nothing: redraw the table and chart of a results JSON"
    )
    args = parser.parse_args()
    out = args.out or (RESULTS / "smoke" if args.smoke else RESULTS)
    out.mkdir(parents=True, exist_ok=True)

    if args.render:
        results = json.loads(args.render.read_text())
        results["targets"] = report.targets(results)
    else:
        started = time.perf_counter()
        only = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = only - set(SECTIONS)
        if unknown:
            parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
        results = run_all(SMOKE if args.smoke else FULL, args.smoke, only)
        results["wall_s"] = round(time.perf_counter() - started, 1)

    stamp = results["started_utc"].replace(":", "").replace("-", "")
    json_path = out / "latest.json"
    text = json.dumps(results, indent=2)
    json_path.write_text(text)
    (out / f"bench-{stamp}.json").write_text(text)
    table = report.render(results)
    (out / "latest.md").write_text(table)
    print(table)
    chart_error = draw(json_path, out / "latest.png")
    if chart_error:
        print(f"[bench] chart failed:\n{chart_error}", file=sys.stderr)
    print(f"[bench] wrote {json_path}, {out / 'latest.md'}, {out / 'latest.png'}", file=sys.stderr)
    broken = [k for k, v in results.items() if isinstance(v, dict) and v.get("status") == "error"]
    if broken or chart_error:
        print(f"[bench] sections that crashed: {broken or ['chart']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
