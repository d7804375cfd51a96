"""Batch invariance and fidelity of an artifact on whatever machine runs this (x86 or arm64).

The same code on both sides: `handler.embedder` (the function's loop) over the artifact,
`model_artifacts.invariance.measure_invariance` (the build's gate) and
`model_artifacts.fidelity.measure` against the sentence-transformers vectors that
`tools.arm64.reference` saved on x86. Needs only numpy, onnxruntime and tokenizers, so it runs
in the arm64 rootfs's venv under qemu. Writes a JSON summary and the vectors (texts alone,
1 thread) for the cross-architecture comparison.

    python -m tools.arm64.check --model DIR --reference reference.npz --out DIR/run.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from handler.embedder import load_embedder
from model_artifacts.fidelity import measure
from model_artifacts.invariance import embed_alone, measure_invariance

AT_HWCAP, AT_HWCAP2 = 16, 26
# arm64 HWCAP bits that choose MLAS's int8 kernels (Linux arch/arm64/include/uapi/asm/hwcap.h).
ARM64_HWCAP = {"asimddp": (AT_HWCAP, 1 << 20), "sve": (AT_HWCAP, 1 << 22)}
ARM64_HWCAP2 = {"i8mm": (AT_HWCAP2, 1 << 13), "sve2": (AT_HWCAP2, 1 << 1)}


def auxv() -> dict[int, int]:
    """The process's auxiliary vector (under qemu-user: what the emulated CPU advertises)."""
    raw = Path("/proc/self/auxv").read_bytes()
    pairs = np.frombuffer(raw[: len(raw) // 16 * 16], dtype=np.uint64).reshape(-1, 2)
    return {int(key): int(value) for key, value in pairs}


def cpu_features() -> dict[str, bool]:
    if platform.machine() != "aarch64":
        flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[-1].split("\n", 1)[0]
        return {f: f in flags.split() for f in ("avx2", "avx512f", "avx512_vnni", "amx_int8")}
    vector = auxv()
    bits = {**ARM64_HWCAP, **ARM64_HWCAP2}
    return {name: bool(vector.get(key, 0) & bit) for name, (key, bit) in bits.items()}


def cpu_model() -> str:
    if os.environ.get("QEMU_CPU"):
        return f"qemu-user -cpu {os.environ['QEMU_CPU']}"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def platform_info() -> dict[str, object]:
    return {
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "features": cpu_features(),
        "python": platform.python_version(),
        "packages": {p: version(p) for p in ("onnxruntime", "numpy", "tokenizers")},
        "libc": "-".join(platform.libc_ver()),
    }


def artifact_info(model_dir: Path) -> dict[str, object]:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    return {
        "model_id": manifest.get("model_id"),
        "recipe_version": manifest.get("quantization", {}).get("recipe_version"),
        "model_onnx_sha256": manifest.get("files", {}).get("model.onnx"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="artifact directory")
    parser.add_argument("--reference", type=Path, required=True, help="from tools.arm64.reference")
    parser.add_argument("--out", type=Path, required=True, help="JSON; vectors go beside it")
    parser.add_argument("--arrangements", type=int, default=2, help="random batchings per case")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    saved = np.load(args.reference)
    texts = [str(t) for t in saved["texts"]]
    started = time.perf_counter()
    alone = embed_alone(load_embedder(args.model, threads=1, batch_size=1), texts)
    invariance = measure_invariance(
        lambda threads, batch: load_embedder(
            args.model, threads=threads, batch_size=batch, verify=False
        ),
        texts,
        arrangements=args.arrangements,
        seed=args.seed,
    )
    fidelity = measure(saved["st_fp32"], alone)
    result = {
        "platform": platform_info(),
        "artifact": artifact_info(args.model),
        "texts": len(texts),
        "invariance": invariance.as_dict(),
        "invariance_failures": invariance.failures(),
        "fidelity_vs_st_fp32": fidelity.as_dict(),
        "fidelity_failures": fidelity.failures(),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out.with_suffix(".npy"), alone)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
