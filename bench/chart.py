"""Draw bench results as one PNG: `python -m bench.chart results.json out.png` (bench venv)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

OURS, OTHER, MUTED = "#1f77b4", "#ff7f0e", "#9e9e9e"


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_axis_off()


def _bar_labels(ax: Axes, bars: Any, labels: list[str]) -> None:
    for bar, label in zip(bars, labels, strict=True):
        ax.annotate(
            label,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )


def throughput(ax: Axes, results: dict[str, Any]) -> None:
    rows = [r for r in (results.get("throughput") or {}).get("rows", []) if r["status"] == "ok"]
    if not rows:
        return _note(ax, "throughput: not measured")
    rows.sort(key=lambda r: r["texts_per_s"])
    names = [
        r["label"].replace(" via handler embedder", "").replace(" (torch fp32)", "\n(torch fp32)")
        for r in rows
    ]
    colors = [
        OURS if r["engine"] == "ours" else OTHER if r["engine"] == "st" else MUTED for r in rows
    ]
    bars = ax.barh(names, [r["texts_per_s"] for r in rows], color=colors)
    for bar, r in zip(bars, rows, strict=True):
        ax.annotate(
            f" {r['texts_per_s']:.0f}/s  ({r.get('ratio_to_st')}x)",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, max(r["texts_per_s"] for r in rows) * 1.45)
    ax.set_xlabel("texts/s (higher is better)")
    ax.set_title(f"Throughput, {rows[0]['texts']} sentences, same threads")
    ax.tick_params(axis="y", labelsize=8)


def cold_start(ax: Axes, results: dict[str, Any]) -> None:
    part = results.get("cold_start") or {}
    runs = [
        (label, part[key])
        for key, label in (("ours", "ours"), ("sentence_transformers", "sentence-\ntransformers"))
        if key in part
    ]
    if not runs:
        return _note(ax, "cold start: not measured")
    phases = [
        ("interpreter_s", "interpreter", "#c7c7c7"),
        ("import_s", "import", "#aec7e8"),
        ("load_s", "load", "#1f77b4"),
        ("first_answer_s", "first answer", "#ff7f0e"),
    ]
    bottoms = [0.0] * len(runs)
    for key, label, color in phases:
        values = [max(r[key], 0) for _, r in runs]
        ax.bar([n for n, _ in runs], values, bottom=bottoms, label=label, color=color)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    for i, (_, r) in enumerate(runs):
        ax.annotate(
            f"{r['total_s']:.2f} s",
            (i, r["total_s"]),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_ylim(0, max(r["total_s"] for _, r in runs) * 1.15)
    ax.set_ylabel("seconds, median (lower is better)")
    ax.set_title(f"Cold start to first answer, median of {runs[0][1]['runs']}")
    ax.legend(fontsize=8, loc="upper left")


def handler(ax: Axes, results: dict[str, Any]) -> None:
    part = results.get("handler") or {}
    n = (part.get("big_float") or {}).get("inputs", "")
    keys = [
        ("single", "1 input"),
        ("batch32", "32 inputs"),
        ("big_float", f"{n} float"),
        ("big_base64", f"{n} base64"),
    ]
    present = [(label, part[k]) for k, label in keys if k in part]
    usage = results.get("usage_overhead") or {}
    if usage.get("status") == "ok":  # the same single input with auth, quota and usage write
        present.insert(1, ("1 input,\nauth+usage", usage["on"]))
    if not present:
        return _note(ax, "handler latency: not measured")
    x = range(len(present))
    p50 = ax.bar(
        [i - 0.2 for i in x], [r["p50_ms"] for _, r in present], 0.4, label="p50", color=OURS
    )
    ax.bar(
        [i + 0.2 for i in x], [r["p95_ms"] for _, r in present], 0.4, label="p95", color="#aec7e8"
    )
    _bar_labels(
        ax,
        p50,
        [f"{r['p50_ms']:.0f}" if r["p50_ms"] >= 10 else f"{r['p50_ms']:.1f}" for _, r in present],
    )
    ax.set_xticks(list(x), [label for label, _ in present], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms, log scale (lower is better)")
    ax.set_title("Warm latency through the Mangum handler")
    ax.legend(fontsize=8, loc="upper left")


def memory(ax: Axes, results: dict[str, Any]) -> None:
    part = results.get("memory") or {}
    rows = [
        (label, part[k])
        for k, label in (("ours", "ours"), ("sentence_transformers", "sentence-\ntransformers"))
        if k in part
    ]
    if not rows:
        return _note(ax, "memory: not measured")
    names = [n for n, _ in rows]
    loaded = [r["rss_after_load_mb"] for _, r in rows]
    peak = [r["peak_rss_mb"] for _, r in rows]
    ax.bar(names, loaded, color="#aec7e8", label="after load")
    bars = ax.bar(
        names,
        [p - base for p, base in zip(peak, loaded, strict=True)],
        bottom=loaded,
        color=[OURS, OTHER][: len(rows)],
        label="added by request",
    )
    for bar, value in zip(bars, peak, strict=True):
        ax.annotate(
            f"{value:.0f} MB",
            (bar.get_x() + bar.get_width() / 2, value),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_ylim(0, max(peak) * 1.15)
    ax.set_ylabel("peak RSS MB (lower is better)")
    ax.set_title(f"Memory answering {rows[0][1]['inputs']} inputs")
    ax.legend(fontsize=8, loc="upper left")


def load_test(ax: Axes, results: dict[str, Any]) -> None:
    r = results.get("load") or {}
    if r.get("status") != "ok" or "p50_ms" not in r:
        return _note(ax, "load test: not measured")
    candidates: list[tuple[str, dict[str, Any] | None, str]] = [
        ("deployed,\nauth on", r, OURS),
        ("service alone,\nno usage hooks", r.get("service_alone"), MUTED),
    ]
    arms = [(name, a, color) for name, a, color in candidates if a and "p50_ms" in a]
    bars = ax.bar(
        [n for n, _, _ in arms],
        [a["requests_per_s"] for _, a, _ in arms],
        color=[c for _, _, c in arms],
    )
    _bar_labels(
        ax,
        bars,
        [
            f"{a['requests_per_s']:.0f}/s\np50 {a['p50_ms']:.0f} ms, "
            f"p99 {a['p99_ms']:.0f} ms\n{a['errors']} errors"
            for _, a, _ in arms
        ],
    )
    ax.set_ylim(0, max(a["requests_per_s"] for _, a, _ in arms) * 1.35)
    ax.set_ylabel("requests/s (higher is better)")
    ax.set_title(f"Load: uvicorn, {r['clients']} clients, {r['requests']} requests per app")


def cost(ax: Axes, results: dict[str, Any]) -> None:
    r = results.get("cost") or {}
    if r.get("status") != "ok":
        return _note(ax, "cost: not measured")
    names = [f"ours, Lambda arm64\n{r['memory_mb']} MB", "OpenAI\ntext-embedding-3-small"]
    values = [r["usd_per_million_tokens"], r["openai_text_embedding_3_small_usd"]]
    bars = ax.bar(names, values, color=[OURS, OTHER])
    _bar_labels(ax, bars, [f"${v:.4f}" for v in values])
    ax.set_ylim(0, max(values) * 1.2)
    ax.set_ylabel("USD per 1M tokens (lower is better)")
    ax.set_title(
        f"Cost: ours {r['ratio_to_openai']:.2f}x OpenAI's (prices as of {r['prices']['date']})"
    )


def draw(results: dict[str, Any], out: Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(16, 9.5))
    panels = [throughput, cold_start, handler, memory, load_test, cost]
    for panel, ax in zip(panels, axes.flat, strict=True):
        panel(ax, results)
    m = results.get("machine", {})
    fig.suptitle(
        f"serverless-embeddings bench, {results.get('mode')} run "
        f"{results.get('started_utc')}: {m.get('nproc')} cores, {m.get('cpu_model')}",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    draw(json.loads(source.read_text()), out)


if __name__ == "__main__":
    main()
