"""Throughput section: every engine over the same corpus, same threads, one fresh process each."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.config import BENCH_PY, CORPUS, EXPORT_PY, SERVICE_PY, THREADS, Sizes
from bench.proc import WorkerError, run_worker
from bench.stats import median

MODULE = "bench.workers.throughput"


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def engine_plan(paths: dict[str, Path | None]) -> list[tuple[str, str, Path, list[str]]]:
    """(label, engine, interpreter, extra args) for every row of the table."""
    model = paths["model_dir"]
    fp32 = paths["fp32_onnx"]
    st_dir = paths["st_dir"]
    plan: list[tuple[str, str, Path, list[str]]] = [
        ("sentence-transformers (torch fp32)", "st", EXPORT_PY, ["--st-dir", str(st_dir)]),
        ("ours: int8 via handler embedder", "ours", SERVICE_PY, ["--model-dir", str(model)]),
        (
            "ours: int8 via handler embedder, 1 thread",
            "ours",
            SERVICE_PY,
            ["--model-dir", str(model), "--threads", "1"],
        ),
    ]
    if fp32 is not None:
        tokenizer = ["--tokenizer", str(Path(str(model)) / "tokenizer.json")]
        plan.append(("fp32 ONNX export", "onnx", SERVICE_PY, ["--onnx", str(fp32), *tokenizer]))
        fastembed = ["--onnx", str(fp32), "--st-dir", str(st_dir)]
        plan.append(("fastembed on our fp32 export", "fastembed", BENCH_PY, fastembed))
    return plan


def run(sizes: Sizes, paths: dict[str, Path | None], tokens: dict[str, Any]) -> dict[str, Any]:
    """texts/s, tokens/s and the ratio to sentence-transformers for each engine."""
    rows: list[dict[str, Any]] = []
    common = ["--corpus", str(CORPUS), "--repeats", str(sizes.throughput_repeats)]
    if sizes.corpus_limit:
        common += ["--limit", str(sizes.corpus_limit)]
    for label, engine, python, extra in engine_plan(paths):
        args = [*common, "--engine", engine, "--threads", str(THREADS), *extra]
        try:
            out = run_worker(python, MODULE, args)
        except WorkerError as exc:
            status = "unavailable" if engine == "fastembed" else "error"
            rows.append({"label": label, "engine": engine, "status": status, "reason": str(exc)})
            continue
        texts_per_s = out["texts"] / median(out["runs_s"])
        rows.append(
            {
                "label": label,
                "engine": engine,
                "status": "ok",
                "threads": out["threads"],
                "texts": out["texts"],
                "load_s": out["load_s"],
                "runs_s": out["runs_s"],
                "texts_per_s": round(texts_per_s, 1),
                "tokens_per_s": round(texts_per_s * tokens["mean_tokens"], 1),
                "sample": out["sample"],
            }
        )
    baseline = next((r for r in rows if r["engine"] == "st" and r["status"] == "ok"), None)
    for row in rows:
        if row["status"] == "ok" and baseline is not None:
            row["ratio_to_st"] = round(row["texts_per_s"] / baseline["texts_per_s"], 2)
            pairs = zip(row["sample"], baseline["sample"], strict=True)
            row["min_cosine_to_st"] = round(min(cosine(a, b) for a, b in pairs), 5)
    for row in rows:
        row.pop("sample", None)
    return {"corpus": str(CORPUS.relative_to(CORPUS.parents[2])), **tokens, "rows": rows}
