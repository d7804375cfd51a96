"""The CPU's int8 features and peak, and the model's work per token, for a share-of-peak figure.

Peak int8 operations per cycle per core (one multiply-add = 2 operations), from the vendors'
instruction throughput, assuming two 512-bit (or 128-bit NEON) pipes where there are two:
AMX-INT8 2048, AVX-512 VNNI 256, AVX-VNNI (256-bit) 128, AVX2 without VNNI 64 (vpmaddubsw
+ vpmaddwd), Arm dot-product (sdot/udot, Neoverse N1: two 128-bit pipes) 64.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

OPS_PER_CYCLE = (
    ("amx_int8", 2048),
    ("avx512_vnni", 256),
    ("avx_vnni", 128),
    ("asimddp", 64),
    ("avx2", 64),
)
REPORTED_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "amx_int8",
    "amx_bf16",
    "asimddp",
    "i8mm",
    "sve",
)


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    text = cpuinfo if cpuinfo is not None else Path("/proc/cpuinfo").read_text()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_ghz(cpuinfo: str | None = None) -> float | None:
    text = cpuinfo if cpuinfo is not None else Path("/proc/cpuinfo").read_text()
    for line in text.splitlines():
        if line.startswith("cpu MHz"):
            return float(line.split(":", 1)[1]) / 1000
    return None


def int8_peak(flags: set[str], ghz: float | None, cores: int) -> dict[str, Any]:
    """Best int8 path the flags allow and its peak (GOPS) at the reported clock."""
    for flag, ops in OPS_PER_CYCLE:
        if flag in flags:
            peak = round(ops * ghz * cores, 1) if ghz else None
            return {
                "path": flag,
                "ops_per_cycle_per_core": ops,
                "ghz": ghz,
                "cores": cores,
                "peak_gops": peak,
            }
    return {"path": None, "peak_gops": None}


def flops_per_token(config_json: Path, mean_tokens: float) -> float:
    """Multiply-adds x2 of a BERT encoder per token: the projections (4h^2 + 2 h i per layer)
    plus attention scores and mixing (2 s h per layer, s = mean sequence length)."""
    config = json.loads(config_json.read_text())
    h, layers = config["hidden_size"], config["num_hidden_layers"]
    inner = config.get("intermediate_size", 4 * h)
    macs = layers * (4 * h * h + 2 * h * inner + 2 * mean_tokens * h)
    return float(2.0 * macs)


def describe(config_json: Path, mean_tokens: float) -> dict[str, Any]:
    flags = cpu_flags()
    return {
        "isa": {flag: flag in flags for flag in REPORTED_FLAGS},
        "int8_peak": int8_peak(flags, cpu_ghz(), os.cpu_count() or 1),
        "flops_per_token": round(flops_per_token(config_json, mean_tokens)),
    }


def share_of_peak(tokens_per_s: float, flops: float, peak_gops: float | None) -> float | None:
    return None if not peak_gops else round(tokens_per_s * flops / (peak_gops * 1e9), 4)
