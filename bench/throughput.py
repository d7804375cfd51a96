"""Throughput section: every engine over the same corpus, same threads, taking turns."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.config import BENCH_PY, CORPUS, EXPORT_PY, SERVICE_PY, THREADS, Sizes
from bench.proc import WorkerError, WorkerSession
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
    int8 = ["--onnx", str(Path(str(model)) / "model.onnx"), "--st-dir", str(st_dir)]
    plan.append(("fastembed on our int8 artifact", "fastembed", BENCH_PY, int8))
    return plan


def _start(
    plan: list[tuple[str, str, Path, list[str]]], common: list[str]
) -> tuple[dict[str, tuple[WorkerSession, dict[str, Any]]], list[dict[str, Any]]]:
    """Start and load every engine, one at a time; engines that fail to load become rows."""
    sessions: dict[str, tuple[WorkerSession, dict[str, Any]]] = {}
    failed: list[dict[str, Any]] = []
    for label, engine, python, extra in plan:
        try:
            session = WorkerSession(python, MODULE, [*common, "--engine", engine, *extra])
            sessions[label] = (session, {"engine": engine, **session.read()})
        except WorkerError as exc:
            status = "unavailable" if engine == "fastembed" else "error"
            failed.append({"label": label, "engine": engine, "status": status, "reason": str(exc)})
    return sessions, failed


def run(sizes: Sizes, paths: dict[str, Any], tokens: dict[str, Any]) -> dict[str, Any]:
    """texts/s, tokens/s and the ratio to sentence-transformers for each engine.

    All engines stay loaded in their own processes and take turns, round after round (the
    order rotating), so a burst of load from elsewhere on the machine hits them alike; each
    figure is the median of its rounds.
    """
    common = ["--corpus", str(CORPUS), "--threads", str(THREADS)]
    if sizes.corpus_limit:
        common += ["--limit", str(sizes.corpus_limit)]
    plan = engine_plan(paths)
    sessions, rows = _start(plan, common)
    seconds: dict[str, list[float]] = {label: [] for label in sessions}
    samples: dict[str, list[list[float]]] = {}
    try:
        labels = list(sessions)
        for round_ in range(sizes.throughput_repeats):
            shift = round_ % len(labels)
            for label in labels[shift:] + labels[:shift]:
                seconds[label].append(sessions[label][0].ask("run")["seconds"])
        for label in labels:
            samples[label] = sessions[label][0].ask("sample")["sample"]
    finally:
        for session, _ in sessions.values():
            session.close()
    for label, (_, ready) in sessions.items():
        texts_per_s = ready["texts"] / median(seconds[label])
        rows.append(
            {
                "label": label,
                "engine": ready["engine"],
                "status": "ok",
                "threads": ready["threads"],
                "texts": ready["texts"],
                "load_s": round(ready["load_s"], 3),
                "runs_s": [round(s, 4) for s in seconds[label]],
                "texts_per_s": round(texts_per_s, 1),
                "tokens_per_s": round(texts_per_s * tokens["mean_tokens"], 1),
            }
        )
    baseline = next((r for r in rows if r["engine"] == "st" and r["status"] == "ok"), None)
    for row in rows:
        if row["status"] == "ok" and baseline is not None:
            row["ratio_to_st"] = round(row["texts_per_s"] / baseline["texts_per_s"], 2)
            pairs = zip(samples[row["label"]], samples[baseline["label"]], strict=True)
            row["min_cosine_to_st"] = round(min(cosine(a, b) for a, b in pairs), 5)
    order = {label: i for i, (label, *_rest) in enumerate(plan)}
    rows.sort(key=lambda r: order.get(r["label"], 99))
    return {"corpus": str(CORPUS.relative_to(CORPUS.parents[2])), **tokens, "rows": rows}
