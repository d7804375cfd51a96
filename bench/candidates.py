"""Bake-off candidates that `make model` does not ship, built once and cached under build/.

- a per-tensor dynamic int8 graph (onnxruntime's quantize_dynamic with per-channel weights on
  the fused fp32 export): the design class of recipe v2, whose one activation range per tensor
  couples the rows of a batch;
- a CTranslate2 int8 model converted from the same sentence-transformers weights.
Both are built in the torch export venv (onnx, onnxruntime.quantization, ctranslate2's
converter live there) and reused while the fp32 export is unchanged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.config import BUILD, EXPORT_PY, REPO
from bench.proc import worker_env

DYNAMIC = BUILD / "bench-dynamic-int8" / "model.onnx"
CT2 = BUILD / "bench-ct2-int8"

_DYNAMIC_CODE = """
import json, sys, tempfile
from pathlib import Path
from model_artifacts import quantize
fp32, target, source = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
config = json.loads((source / "config.json").read_text())
with tempfile.TemporaryDirectory() as work:
    fused = Path(work) / "fused.onnx"
    quantize.fuse_transformer(fp32, fused, config["num_attention_heads"], config["hidden_size"],
                              embed_layer_norm=False, skip_layer_norm=False)
    quantize.quantize_int8(fused, target, exclude=[])
"""

_CT2_CODE = """
import sys
from ctranslate2.converters import TransformersConverter
TransformersConverter(sys.argv[1]).convert(sys.argv[2], quantization="int8", force=True)
"""


def _stale(target: Path, fp32: Path) -> bool:
    return not target.exists() or target.stat().st_mtime < fp32.stat().st_mtime


def ensure_dynamic_int8(fp32: Path, st_dir: Path) -> Path:
    if _stale(DYNAMIC, fp32):
        DYNAMIC.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(EXPORT_PY), "-c", _DYNAMIC_CODE, str(fp32), str(DYNAMIC), str(st_dir)],
            cwd=REPO,
            env=worker_env(),
            check=True,
            capture_output=True,
        )
    return DYNAMIC


def ensure_ct2_int8(fp32: Path, st_dir: Path) -> Path:
    """Raises CalledProcessError when ctranslate2 is not installed in the export venv."""
    if _stale(CT2 / "model.bin", fp32):
        subprocess.run(
            [str(EXPORT_PY), "-c", _CT2_CODE, str(st_dir), str(CT2)],
            cwd=REPO,
            env=worker_env(),
            check=True,
            capture_output=True,
        )
    return CT2
