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


def encodings(sizes: Sizes, env: dict[str, str]) -> dict[str, Any]:
    """Response bytes and serialisation time per encoding_format for 1 and `big_inputs`
    inputs, and recall@10 of each compact encoding against float."""
    args = [
        "--corpus", str(CORPUS),
        "--model-dir", env["MODEL_DIR"],
        "--big-inputs", str(sizes.big_inputs),
        "--rounds", str(sizes.encoding_rounds),
        *(["--recall"] if sizes.encoding_recall else []),
    ]  # fmt: skip
    return run_worker(SERVICE_PY, "bench.workers.encodings", args, env, timeout=1200)
