"""Service sections: warm latency through the Mangum handler, cold start, peak memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.config import CORPUS, EXPORT_PY, LAMBDA_MB_PER_VCPU, SERVICE_PY, THREADS, Sizes
from bench.cost import configured_memory_mb, parameter_default
from bench.proc import run_worker, time_to_first_line
from bench.stats import median
from handler.settings import request_token_budget_for

PHASES = ("import_s", "load_s", "first_answer_s")


def handler_latency(sizes: Sizes, env: dict[str, str]) -> dict[str, Any]:
    args = [
        "--corpus", str(CORPUS),
        "--single", str(sizes.single_requests),
        "--batch32", str(sizes.batch32_requests),
        "--big-inputs", str(sizes.big_inputs),
        "--big-requests", str(sizes.big_requests),
    ]  # fmt: skip
    return run_worker(SERVICE_PY, "bench.workers.handler_latency", args, env)


COLD_KEYS = ("total_s", "cpu_s", *PHASES)
# What template.yaml sets that changes a cold start's work: no hash of the model (sam build
# checked it) and a batch bucket, which makes the app import the Batch API's routers.
DEPLOYED_COLD_ENV = {
    "MODEL_VERIFY": "false",
    "BATCH_BUCKET": "bench-cold-start",
    "BATCH_QUEUE_URL": "http://127.0.0.1:9/bench-cold-start",  # built on first use: never
}


def _summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    result: dict[str, Any] = {"runs": len(samples)}
    for key in COLD_KEYS:
        result[key] = round(median([s[key] for s in samples]), 4)
    result["interpreter_s"] = round(
        result["total_s"] - sum(result[p] for p in PHASES), 4
    )  # process start until the worker's first line ran
    result["samples_total_s"] = [round(s["total_s"], 4) for s in samples]
    return result


def _cold_runs(
    engines: dict[str, tuple[Path, list[str], dict[str, str] | None]], runs: int
) -> dict[str, dict[str, Any]]:
    """`runs` fresh processes per engine, taken in turns, so that a noisy spell on the shared
    machine falls on every engine alike and their ratio stays meaningful."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
    for _ in range(runs):
        for name, (python, args, env) in engines.items():
            total, phases = time_to_first_line(python, "bench.workers.coldstart", args, env)
            samples[name].append({"total_s": total, **{k: phases[k] for k in COLD_KEYS[1:]}})
    return {name: _summary(taken) for name, taken in samples.items()}


def cold_start(sizes: Sizes, st_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Fresh process to first answer, medians of `cold_runs`: ours as template.yaml deploys
    it, the floor (the model alone: what any design pays) and sentence-transformers.

    An untimed run of ours first tells which libraries the handler imports, so the timed runs'
    import phase preloads exactly those; in full mode one untimed run of each engine first,
    so all find the page cache warm (as a warm Lambda host has it). `over_floor_s` is what
    the web framework, AWS clients and our own modules add to the model's own start.
    """
    deployed = {**env, **DEPLOYED_COLD_ENV}
    _, probe = time_to_first_line(
        SERVICE_PY, "bench.workers.coldstart", ["--engine", "ours"], deployed
    )
    ours_args = ["--engine", "ours", "--preload", ",".join(probe["roots"])]
    floor_args = ["--engine", "floor", "--model-dir", env["MODEL_DIR"], "--threads", str(THREADS)]
    st_args = ["--engine", "st", "--st-dir", str(st_dir), "--threads", str(THREADS)]
    engines = {
        "ours": (SERVICE_PY, ours_args, deployed),
        "floor": (SERVICE_PY, floor_args, env),
        "sentence_transformers": (EXPORT_PY, st_args, None),
    }
    if sizes.cold_warmup:
        for python, args, engine_env in engines.values():
            time_to_first_line(python, "bench.workers.coldstart", args, engine_env)
    measured = _cold_runs(engines, sizes.cold_runs)
    ours, floor, st = measured["ours"], measured["floor"], measured["sentence_transformers"]
    return {
        **measured,
        "speedup": round(st["total_s"] / ours["total_s"], 2),
        "ratio_to_floor": round(ours["total_s"] / floor["total_s"], 2),
        "cpu_ratio_to_floor": round(ours["cpu_s"] / floor["cpu_s"], 2),
        "over_floor_s": round(ours["total_s"] - floor["total_s"], 4),
        "over_floor_cpu_s": round(ours["cpu_s"] - floor["cpu_s"], 4),
        "deployed_env": DEPLOYED_COLD_ENV,
        "imported_libraries": probe["roots"],
    }


def memory(sizes: Sizes, st_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Peak RSS answering one request of `big_inputs` texts, ours vs sentence-transformers."""
    common = ["--corpus", str(CORPUS), "--inputs", str(sizes.big_inputs)]
    ours = run_worker(SERVICE_PY, "bench.workers.memory", [*common, "--engine", "ours"], env)
    st_args = [*common, "--engine", "st", "--st-dir", str(st_dir), "--threads", str(THREADS)]
    st = run_worker(EXPORT_PY, "bench.workers.memory", st_args)
    return {"ours": ours, "sentence_transformers": st}


def long_inputs(sizes: Sizes, env: dict[str, str]) -> dict[str, Any]:
    """Pooled windows against short inputs of the same tokens, at 1 and THREADS threads; then
    the largest request (36 x 8,192 tokens) and one at the template's REQUEST_TOKEN_BUDGET, at
    one thread as the template's memory gives, each in a fresh process through the Mangum
    handler (no budget there): their time against the function's timeout."""
    model = ["--model-dir", env["MODEL_DIR"]]
    speed = [
        run_worker(
            SERVICE_PY,
            "bench.workers.long_inputs",
            ["--part", "speed", *model, "--threads", str(t), "--rounds", str(sizes.long_rounds)],
            env,
        )
        for t in sorted({1, THREADS})
    ]
    memory_mb, _ = configured_memory_mb()
    timeout_s = parameter_default("TimeoutSeconds", 29)
    budget = request_token_budget_for({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)})
    at_budget = max(1, (budget or 0) // 8192) if sizes.long_request_inputs > 2 else 1
    requests = {}
    for name, inputs in (("largest", sizes.long_request_inputs), ("at_budget", at_budget)):
        request = run_worker(
            SERVICE_PY,
            "bench.workers.long_inputs",
            ["--part", "request", *model, "--inputs", str(inputs)],
            {**env, "ORT_THREADS": "1"},
            timeout=1200,
        )
        request["fits_timeout"] = request["wall_s"] <= timeout_s
        requests[name] = request
    return {
        "speed": speed,
        "requests": requests,
        "template_memory_mb": memory_mb,
        "template_vcpus": round(memory_mb / LAMBDA_MB_PER_VCPU, 2),
        "timeout_s": timeout_s,
        "request_token_budget": budget,
    }
