"""What produced the figures: cores, CPU model, interpreters and library versions."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench.config import BENCH_PY, EXPORT_PY, SERVICE_PY

VERSIONS = {
    SERVICE_PY: ("onnxruntime", "numpy", "tokenizers", "fastapi", "mangum"),
    EXPORT_PY: ("torch", "sentence_transformers", "transformers"),
    BENCH_PY: ("fastembed", "onnxruntime"),
}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def interpreter(python: Path, modules: tuple[str, ...]) -> dict[str, str]:
    """Python and library versions of a venv, read by that venv's own interpreter."""
    if not python.exists():
        return {"missing": str(python)}
    code = (
        "import importlib.metadata as m, platform, json, sys\n"
        "out = {'python': platform.python_version()}\n"
        f"for name in {list(modules)!r}:\n"
        "    try: out[name] = m.version(name.replace('_', '-'))\n"
        "    except m.PackageNotFoundError: out[name] = 'absent'\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)

    return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-300:]}


def describe() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "service_venv": interpreter(SERVICE_PY, VERSIONS[SERVICE_PY]),
        "torch_venv": interpreter(EXPORT_PY, VERSIONS[EXPORT_PY]),
        "bench_venv": interpreter(BENCH_PY, VERSIONS[BENCH_PY]),
    }
