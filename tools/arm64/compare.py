"""Put the x86 and arm64 runs of tools.arm64.check side by side, into one JSON and a table.

Each arm64 run's vectors (texts alone, 1 thread) are compared with the x86 run's: equality is
not required across ISAs (the fp32 parts round differently), but users ask how far apart they
are. The summary's `ok` is every run's invariance and fidelity gate.

    python -m tools.arm64.compare DIR --runs x86_64 arm64-neoverse-n1 ... [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from model_artifacts.fidelity import unit_rows


def distance(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    diff = np.abs(a - b).max(axis=1)
    cosines = (unit_rows(a) * unit_rows(b)).sum(axis=1)
    return {
        "max_abs_diff": float(diff.max()),
        "identical_share": round(float((diff == 0).mean()), 6),
        "min_cosine": round(float(cosines.min()), 9),
        "mean_cosine": round(float(cosines.mean()), 9),
    }


def summarise(out_dir: Path, runs: list[str]) -> dict[str, Any]:
    results = {name: json.loads((out_dir / f"{name}.json").read_text()) for name in runs}
    vectors = {name: np.load(out_dir / f"{name}.npy") for name in runs}
    for name in runs:
        insns = out_dir / f"{name}.insns.json"
        if insns.exists():  # arm64 runs: the int8 instructions qemu translated (tools.arm64.insns)
            results[name]["int8_instructions"] = json.loads(insns.read_text())
    base = runs[0]
    for name in runs[1:]:
        results[name][f"vs_{base}"] = distance(vectors[base], vectors[name])
    ok = all(not r["invariance_failures"] and not r["fidelity_failures"] for r in results.values())
    return {"ok": ok, "baseline": base, "runs": results}


def table(summary: dict[str, Any]) -> str:
    base = summary["baseline"]
    rows = [
        "| run | CPU | invariance max abs diff | identical | mean cos | min cos | recall@10 "
        f"| max abs diff vs {base} | min cos vs {base} | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in summary["runs"].items():
        inv, fid = r["invariance"], r["fidelity_vs_st_fp32"]
        cross = r.get(f"vs_{base}", {})
        rows.append(
            f"| {name} | {r['platform']['cpu']} | {inv['max_abs_diff']:.3g} "
            f"| {inv['identical_share']:.2%} | {fid['mean_cosine']:.6f} | {fid['min_cosine']:.6f} "
            f"| {fid['recall_at_10']:.4f} | {cross.get('max_abs_diff', '-')} "
            f"| {cross.get('min_cosine', '-')} | {r['wall_seconds']} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--runs", nargs="+", required=True, help="baseline first")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    summary = summarise(args.dir, args.runs)
    out = args.out or args.dir / "arm64-check.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(table(summary))
    print(f"{'OK' if summary['ok'] else 'FAILED'}: {out}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
