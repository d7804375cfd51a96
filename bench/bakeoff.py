"""Bake-off section: candidate engines side by side at 1 and 2 threads on the held-out corpus.

Per candidate: texts/s (median of interleaved passes) and its ratio to sentence-transformers
at the same thread count, fidelity against sentence-transformers (mean / min cosine,
recall@10), batch invariance (max |diff| of a text alone vs inside the corpus pass, and
1 vs 2 threads), engine load time, and the unzipped size of the runtime's wheel on Lambda's
two architectures. The chosen engine is the one `make model` ships (handler.embedder).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from bench import candidates, peak
from bench.config import BUILD, CORPUS, EXPORT_PY, SERVICE_PY, Sizes
from bench.proc import WorkerError, WorkerSession
from bench.stats import median
from model_artifacts.fidelity import measure

MODULE = "bench.workers.throughput"
WHEELS = BUILD / "bench-wheels"
# pip platform tags per Lambda architecture (Amazon Linux 2023, glibc 2.34), newest first
PLATFORMS = {
    "arm64": ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux2014_x86_64"),
}
# The runtime package each candidate adds to the function (numpy and tokenizers are common).
RUNTIMES = {
    "ort": ("onnxruntime", "1.31.1"),
    "ct2": ("ctranslate2", "4.6.2"),
    "torch": ("torch", "2.13.0"),
}


def plan(paths: dict[str, Any]) -> list[tuple[str, str, str, Path, list[str]]]:
    """(label, runtime, engine, interpreter, args) per candidate; builds the extra models."""
    model, st_dir, fp32 = Path(str(paths["model_dir"])), paths["st_dir"], paths["fp32_onnx"]
    tokenizer = ["--tokenizer", str(model / "tokenizer.json")]
    rows = [
        ("sentence-transformers fp32 (torch)", "torch", "st", EXPORT_PY, ["--st-dir", str(st_dir)]),
        (
            "onnxruntime row-local int8 (shipped)",
            "ort",
            "ours",
            SERVICE_PY,
            ["--model-dir", str(model)],
        ),
        ("onnxruntime fp32", "ort", "onnx", SERVICE_PY, ["--onnx", str(fp32), *tokenizer]),
        (
            "onnxruntime per-tensor dynamic int8",
            "ort",
            "onnx",
            SERVICE_PY,
            ["--onnx", str(candidates.ensure_dynamic_int8(fp32, st_dir)), *tokenizer],
        ),
    ]
    try:
        ct2 = candidates.ensure_ct2_int8(fp32, st_dir)
        rows.append(
            ("CTranslate2 int8", "ct2", "ct2", EXPORT_PY, ["--ct2-dir", str(ct2), *tokenizer])
        )
    except Exception:  # noqa: BLE001 - reported as an unavailable row below
        rows.append(("CTranslate2 int8", "ct2", "missing", EXPORT_PY, []))
    return rows


def wheel_mb(package: str, version: str, arch: str) -> float | None:
    """Unzipped MB of the package's CPython 3.13 wheel for Lambda's `arch` (cached download)."""
    import subprocess

    folder = WHEELS / arch
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    if not list(folder.glob(pattern)):
        folder.mkdir(parents=True, exist_ok=True)
        tags = [arg for tag in PLATFORMS[arch] for arg in ("--platform", tag)]
        subprocess.run(
            [str(SERVICE_PY), "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             *tags, "--python-version", "3.13", f"{package}=={version}", "-d", str(folder)],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
    found = list(folder.glob(pattern))
    if not found:
        return None
    with zipfile.ZipFile(found[0]) as wheel:
        return round(sum(info.file_size for info in wheel.infolist()) / 1e6, 1)


def _measure(
    rows: list[tuple[str, str, str, Path, list[str]]],
    threads: int,
    sizes: Sizes,
    work: Path,
    alone_n: int,
) -> dict[str, dict[str, Any]]:
    common = ["--corpus", str(CORPUS), "--threads", str(threads)]
    if sizes.corpus_limit:
        common += ["--limit", str(sizes.corpus_limit)]
    sessions: dict[str, tuple[WorkerSession, dict[str, Any]]] = {}
    out: dict[str, dict[str, Any]] = {}
    for label, _, engine, python, extra in rows:
        if engine == "missing":
            out[label] = {"status": "unavailable", "reason": "ctranslate2 not installed"}
            continue
        try:
            session = WorkerSession(python, MODULE, [*common, "--engine", engine, *extra])
            sessions[label] = (session, session.read())
        except WorkerError as exc:
            out[label] = {"status": "error", "reason": str(exc)[-300:]}
    seconds: dict[str, list[float]] = {label: [] for label in sessions}
    cpu: dict[str, list[float]] = {label: [] for label in sessions}
    try:
        labels = list(sessions)
        for round_ in range(sizes.throughput_repeats):
            shift = round_ % max(len(labels), 1)
            for label in labels[shift:] + labels[:shift]:
                answer = sessions[label][0].ask("run")
                seconds[label].append(answer["seconds"])
                cpu[label].append(answer["cpu_seconds"])
        for i, label in enumerate(labels):
            session, ready = sessions[label]
            session.ask(f"vectors {work / f'{i}-{threads}.npy'}")
            session.ask(f"alone {alone_n} {work / f'{i}-{threads}-alone.npy'}")
            out[label] = {
                "status": "ok",
                "texts": ready["texts"],
                "load_s": round(ready["load_s"], 3),
                "texts_per_s": round(ready["texts"] / median(seconds[label]), 1),
                "texts_per_cpu_s": round(ready["texts"] / median(cpu[label]), 1),
                "vectors": work / f"{i}-{threads}.npy",
                "alone": work / f"{i}-{threads}-alone.npy",
            }
    finally:
        for session, _ in sessions.values():
            session.close()
    return out


def run(sizes: Sizes, paths: dict[str, Any], tokens: dict[str, Any], smoke: bool) -> dict[str, Any]:
    rows = plan(paths)
    alone_n = 16 if smoke else 200
    with tempfile.TemporaryDirectory(prefix="bench-bakeoff-") as tmp:
        work = Path(tmp)
        by_threads = {t: _measure(rows, t, sizes, work, alone_n) for t in (1, 2)}
        st_label = rows[0][0]
        reference = (
            np.load(by_threads[2][st_label]["vectors"])
            if by_threads[2].get(st_label, {}).get("status") == "ok"
            else None
        )
        figures = peak.describe(Path(str(paths["st_dir"])) / "config.json", tokens["mean_tokens"])
        table = []
        for label, runtime, _, _, _ in rows:
            one, two = by_threads[1].get(label, {}), by_threads[2].get(label, {})
            row: dict[str, Any] = {
                "label": label,
                "runtime": runtime,
                "status": two.get("status", "error"),
            }
            if row["status"] != "ok" or one.get("status") != "ok":
                row["reason"] = two.get("reason") or one.get("reason")
                table.append(row)
                continue
            v1, v2 = np.load(one["vectors"]), np.load(two["vectors"])
            alone = np.load(two["alone"])
            row.update(
                {
                    "texts_per_s": {"1": one["texts_per_s"], "2": two["texts_per_s"]},
                    # per second of the worker's own CPU time (at 1 thread: per busy core)
                    "texts_per_cpu_s": {"1": one["texts_per_cpu_s"], "2": two["texts_per_cpu_s"]},
                    "tokens_per_s": {
                        t: round(r["texts_per_s"] * tokens["mean_tokens"], 1)
                        for t, r in (("1", one), ("2", two))
                    },
                    "load_s": two["load_s"],
                    "invariance_max_abs_diff": float(
                        max(np.abs(alone - v2[: len(alone)]).max(), np.abs(v1 - v2).max())
                    ),
                }
            )
            row["share_of_int8_peak_2t"] = peak.share_of_peak(
                row["tokens_per_s"]["2"],
                figures["flops_per_token"],
                figures["int8_peak"]["peak_gops"],
            )
            if reference is not None:
                row["fidelity"] = measure(reference, v2).as_dict()
            table.append(row)
    st = next((r for r in table if r["runtime"] == "torch" and r["status"] == "ok"), None)
    for row in table:
        if st is not None and row["status"] == "ok":
            row["ratio_to_st"] = {
                t: round(row["texts_per_s"][t] / st["texts_per_s"][t], 2) for t in ("1", "2")
            }
            row["cpu_ratio_to_st"] = {
                t: round(row["texts_per_cpu_s"][t] / st["texts_per_cpu_s"][t], 2)
                for t in ("1", "2")
            }
        package, version = RUNTIMES[row["runtime"]]
        row["runtime_package"] = f"{package}=={version}"
        # torch's wheels (hundreds of MB, CUDA builds on x86_64 PyPI) are not downloaded: on
        # their own they exceed Lambda's 250 MB unzipped limit
        row["wheel_unzipped_mb"] = (
            {}
            if smoke or package == "torch"
            else {arch: wheel_mb(package, version, arch) for arch in PLATFORMS}
        )
    # bench/noamx.c refuses onnxruntime's AMX request: what a CPU without AMX would get
    amx_refused = "noamx" in os.environ.get("LD_PRELOAD", "")
    return {"rows": table, "alone_texts": alone_n, "amx_refused": amx_refused, **figures}
