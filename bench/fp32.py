"""The fp32 ONNX export the int8 artifact is quantized from, cached under build/bench-fp32.

`make model` exports fp32 into a temporary folder and keeps only the int8 result, so the bench
re-exports with the model build's own code (model_artifacts.export, in the torch export venv)
and reuses the file while the source model and the export code are unchanged.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from bench.config import BUILD, EXPORT_PY, REPO
from bench.proc import worker_env

CACHE = BUILD / "bench-fp32"
EXPORT_CODE = REPO / "model_artifacts" / "export.py"


def _inputs_key(source: Path) -> str:
    """Changes when the export code or any source model file changes (names, sizes, mtimes)."""
    digest = hashlib.sha256(EXPORT_CODE.read_bytes())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(source)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def ensure_fp32_export(source: Path) -> Path:
    """Path of the fp32 export of `source`, exporting it first when the cache is stale."""
    target = CACHE / "model.onnx"
    stamp = CACHE / "inputs.sha256"
    key = _inputs_key(source)
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = CACHE / "model.onnx.partial"
    code = (
        "import sys; from pathlib import Path; from model_artifacts.export import export_fp32; "
        "export_fp32(Path(sys.argv[1]), Path(sys.argv[2]))"
    )
    subprocess.run(
        [str(EXPORT_PY), "-c", code, str(source), str(partial)],
        cwd=REPO,
        env=worker_env(),
        check=True,
        capture_output=True,
    )
    partial.replace(target)
    stamp.write_text(key + "\n")
    return target
