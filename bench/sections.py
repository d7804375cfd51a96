"""Service sections: warm latency through the Mangum handler, cold start, peak memory."""

from __future__ import annotations

import json
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


def _cold_runs(
    python: Path, args: list[str], runs: int, env: dict[str, str] | None
) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        total, phases = time_to_first_line(python, "bench.workers.coldstart", args, env)
        samples.append({"total_s": total, **{p: phases[p] for p in PHASES}})
    result: dict[str, Any] = {"runs": runs}
    for key in ("total_s", *PHASES):
        result[key] = round(median([s[key] for s in samples]), 4)
    result["interpreter_s"] = round(
        result["total_s"] - sum(result[p] for p in PHASES), 4
    )  # process start until the worker's first line ran
    result["samples_total_s"] = [round(s["total_s"], 4) for s in samples]
    return result


def cold_start(sizes: Sizes, st_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Fresh process to first answer, ours vs sentence-transformers, median of `cold_runs`.

    An untimed run of ours first tells which libraries the handler imports, so the timed runs'
    import phase preloads exactly those; in full mode one untimed run of sentence-transformers
    too, so both find the page cache warm (as a warm Lambda host has it).
    """
    _, probe = time_to_first_line(SERVICE_PY, "bench.workers.coldstart", ["--engine", "ours"], env)
    ours_args = ["--engine", "ours", "--preload", ",".join(probe["roots"])]
    st_args = ["--engine", "st", "--st-dir", str(st_dir), "--threads", str(THREADS)]
    if sizes.cold_warmup:
        time_to_first_line(EXPORT_PY, "bench.workers.coldstart", st_args)
    ours = _cold_runs(SERVICE_PY, ours_args, sizes.cold_runs, env)
    st = _cold_runs(EXPORT_PY, st_args, sizes.cold_runs, None)
    return {
        "ours": ours,
        "sentence_transformers": st,
        "speedup": round(st["total_s"] / ours["total_s"], 2),
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


MODEL_POLICIES = ("one_model", "two_lazy", "two_eager")


def _models_env(env: dict[str, str], fp32_dir: Path | None, policy: str) -> dict[str, str]:
    from handler.artifact import load_manifest

    default = {"id": load_manifest(env["MODEL_DIR"], verify=False).model_id}
    models = [{**default, "dir": env["MODEL_DIR"]}]
    if policy != "one_model" and fp32_dir is not None:
        models.append({"id": fp32_dir.name, "dir": str(fp32_dir)})
    out = {k: v for k, v in env.items() if k != "MODEL_DIR"}
    loading = "eager" if policy == "two_eager" else "lazy"
    return {**out, "MODELS": json.dumps(models), "MODEL_LOADING": loading}


def models(sizes: Sizes, env: dict[str, str], fp32_dir: Path) -> dict[str, Any]:
    """Load policies (handler/embeddings/models.py): cold start (importing handler.app) and the
    first and warm single-input requests to each model, with the default model alone, with
    the fp32 model beside it loaded on first use (lazy) and at cold start (eager). Fresh
    processes, the policies interleaved round by round; medians of `cold_runs` rounds."""
    runs: dict[str, list[dict[str, Any]]] = {policy: [] for policy in MODEL_POLICIES}
    warm = ["--warm", str(max(3, sizes.single_requests // 15))]
    for _ in range(sizes.cold_runs):
        for policy in MODEL_POLICIES:
            policy_env = _models_env(env, fp32_dir, policy)
            runs[policy].append(run_worker(SERVICE_PY, "bench.workers.models", warm, policy_env))
    out: dict[str, Any] = {"runs": sizes.cold_runs}
    for policy, samples in runs.items():
        out[policy] = {
            "init_ms": round(median([s["init_ms"] for s in samples]), 1),
            "init_samples_ms": [round(s["init_ms"], 1) for s in samples],
            **{
                kind: {
                    model: round(median([s[kind][model] for s in samples]), 2)
                    for model in samples[0][kind]
                }
                for kind in ("first_request_ms", "warm_single_ms")
            },
        }
    out["chosen"] = choose_loading(out)
    return out


def choose_loading(figures: dict[str, Any]) -> dict[str, Any]:
    """Eager costs every cold start its extra init; lazy costs only the first request that
    names the second model its load. Every container starts cold once, and most never see
    that model (it is the exception by design), so lazy wins unless eager's extra init is
    smaller than lazy's extra first request (then loading early is free)."""
    lazy, eager = figures["two_lazy"], figures["two_eager"]
    second = next(
        m for m in lazy["first_request_ms"] if m not in figures["one_model"]["first_request_ms"]
    )
    extra_init = eager["init_ms"] - lazy["init_ms"]
    extra_first = lazy["first_request_ms"][second] - eager["first_request_ms"][second]
    policy = "eager" if extra_init <= extra_first else "lazy"
    return {
        "policy": policy,
        "eager_extra_init_ms": round(extra_init, 1),
        "lazy_extra_first_request_ms": round(extra_first, 1),
        "lazy_init_vs_one_model": round(lazy["init_ms"] / figures["one_model"]["init_ms"], 3),
    }
