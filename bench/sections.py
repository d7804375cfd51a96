"""Service sections: warm latency through the Mangum handler, cold start, peak memory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.config import CORPUS, EXPORT_PY, LAMBDA_MB_PER_VCPU, REPO, SERVICE_PY, THREADS, Sizes
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
# checked it), a batch bucket, which makes the app import the Batch API's routers, and the
# usage fallback queue, whose client the app would otherwise build at cold start.
DEPLOYED_COLD_ENV = {
    "MODEL_VERIFY": "false",
    # As template.yaml deploys it: the first request's key is looked up and its usage written
    # (DynamoDB Local, on loopback), so the first answer waits for the DynamoDB client too.
    "AUTH_ENABLED": "true",
    "USAGE_AGGREGATION": "stream",
    "USAGE_FALLBACK_QUEUE_URL": "http://127.0.0.1:9/bench-usage-fallback",  # refused at once
    "BATCH_BUCKET": "bench-cold-start",
    "BATCH_QUEUE_URL": "http://127.0.0.1:9/bench-cold-start",  # built on first use: never
}


def compile_bytecode() -> None:
    """.pyc beside every module of handler/, as layers/stage.py ships the function (its code
    is read-only there), and of bench/, whose event builder the timed worker imports. Without
    them every timed start compiled our modules from source, which the deployed function
    never does: under PYTHONDONTWRITEBYTECODE, or after an edit, that added ~25 ms (5%) to
    ours (alternating A/B, 2026-12-05)."""
    subprocess.run(
        [str(SERVICE_PY), "-m", "compileall", "-q", "handler", "bench"], cwd=REPO, check=True
    )


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


def _cold_parts(env: dict[str, str], runs: int) -> list[dict[str, Any]]:
    """Ours in parts, in order on one thread (bench/workers/coldstart_parts.py): medians of
    `runs` fresh processes, wall and CPU ms per part."""
    samples = [
        run_worker(SERVICE_PY, "bench.workers.coldstart_parts", [], env)["parts"]
        for _ in range(runs)
    ]
    return [
        {
            "part": rows[0]["part"],
            "wall_ms": round(median([r["wall_ms"] for r in rows]), 1),
            "cpu_ms": round(median([r["cpu_ms"] for r in rows]), 1),
        }
        for rows in zip(*samples, strict=True)
    ]


def cold_start(sizes: Sizes, st_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Fresh process to first answer, medians of `cold_runs`: ours as template.yaml deploys
    it, the floor (the model alone: what any design pays) and sentence-transformers.

    An untimed run of ours first tells which libraries the handler imports, so the timed runs'
    import phase preloads exactly those; in full mode one untimed run of each engine first,
    so all find the page cache warm (as a warm Lambda host has it). `over_floor_s` is what
    the web framework, AWS clients and our own modules add to the model's own start; `parts`
    says where ours spends it, part by part.
    """
    deployed = {**env, **DEPLOYED_COLD_ENV}
    compile_bytecode()
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
        "parts": _cold_parts(deployed, sizes.cold_runs),
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
