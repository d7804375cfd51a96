"""Functional: what `sam build` produced for each architecture, checked before any deploy.

Sizes are Lambda's unzipped sizes (sum of file sizes). Budgets: the dependency layer at most
120 MB, code plus every layer at most 250 MB (Lambda's hard limit is 262,144,000 bytes; we
hold the stricter decimal reading). Measured sizes go to build/deploy/layer-sizes.json.
For arm64, which cannot run here, the native libraries are checked statically: CPU,
libraries they link against, and glibc/libstdc++ symbol versions within Amazon Linux 2023's.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from deploy_support import ARCHES, MB, REPO, built_dir, load_template, tree_bytes

from handler.artifact import load_manifest

pytestmark = pytest.mark.functional

DEPENDENCY_LAYER_BUDGET = 120 * MB
UNZIPPED_BUDGET = 250 * MB
ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}  # e_machine: EM_X86_64, EM_AARCH64
# Amazon Linux 2023 (Lambda's python3.13): glibc 2.34, GCC 11's libstdc++.
MAX_GLIBC = (2, 34)
MAX_GLIBCXX = (3, 4, 29)
SYSTEM_LIBRARIES = {
    "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0",
    "libstdc++.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
}  # fmt: skip
NEVER_SHIPPED = [
    "boto3", "botocore", "sympy", "huggingface_hub", "protobuf", "torch",
    "prometheus_client",  # GET /metrics is for uvicorn only (handler/server.py)
]  # fmt: skip
STRIPPED = [
    "onnxruntime/quantization",
    "onnxruntime/transformers",
    "onnxruntime/tools",
    "onnxruntime/capi/libonnxruntime.so.1",
]
IMPORTED = ["onnxruntime", "numpy", "tokenizers", "fastapi", "starlette", "pydantic", "mangum",
            "orjson", "pydantic_core"]  # fmt: skip


def layer_refs(node: Any) -> set[str]:
    """Every resource a function's Layers refers to, in any branch of an Fn::If."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return {node["Ref"]}
        return set().union(*(layer_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(layer_refs(v) for v in node))
    return set()


def sizes(arch: str, function: str = "EmbeddingsFunction") -> dict[str, int]:
    """The function's code and every layer its built template can attach (one per model)."""
    root = built_dir(arch)
    built = load_template(root / "template.yaml")["Resources"]
    layers = built[function]["Properties"]["Layers"]
    names = [function, *sorted(layer_refs(layers) - {"AWS::NoValue"})]
    return {name: tree_bytes(root / name) for name in names}


def shared_objects(arch: str) -> list[Path]:
    python = built_dir(arch) / "DependencyLayer" / "python"
    return sorted(p for p in python.rglob("*.so*") if p.is_file() and not p.is_symlink())


def readelf(*args: str) -> str:
    if shutil.which("readelf") is None:
        pytest.fail("readelf (binutils) is needed to check the layers' native libraries")
    return subprocess.run(["readelf", *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("arch", ARCHES)
def test_sizes_within_the_budgets(built: Path, arch: str) -> None:
    measured = sizes(arch)
    total = sum(measured.values())
    report = REPO / "build" / "deploy" / "layer-sizes.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    existing: dict[str, Any] = json.loads(report.read_text()) if report.is_file() else {}
    existing[arch] = {**measured, "total": total}
    report.write_text(json.dumps(existing, indent=2))
    print(f"\n{arch}: " + ", ".join(f"{k} {v / MB:.1f} MB" for k, v in existing[arch].items()))
    assert measured["DependencyLayer"] <= DEPENDENCY_LAYER_BUDGET, measured
    assert {"ModelLayer", "ModelFp32Layer"} <= set(measured)  # one layer per served model
    assert total <= UNZIPPED_BUDGET, measured
    worker = sizes(arch, "BatchWorkerFunction")  # the same code and layers
    assert sum(worker.values()) <= UNZIPPED_BUDGET, worker


@pytest.mark.parametrize("arch", ARCHES)
def test_dependency_layer_holds_what_the_function_imports_and_nothing_else(
    built: Path, arch: str
) -> None:
    python = built_dir(arch) / "DependencyLayer" / "python"
    for package in IMPORTED:
        assert (python / package / "__init__.py").is_file(), package
        # shipped bytecode: /opt is read-only, so Python could never cache its own
        assert list((python / package / "__pycache__").glob("__init__.cpython-313.pyc")), package
    assert not [p for p in NEVER_SHIPPED if (python / p).exists()]
    assert not [p for p in STRIPPED if list(python.glob(p + "*"))]
    assert not list(python.rglob("tests")), "test suites are stripped"
    assert not (python / "bin").exists()


@pytest.mark.parametrize("arch", ARCHES)
def test_native_libraries_are_built_for_the_target(built: Path, arch: str) -> None:
    objects = shared_objects(arch)
    assert len(objects) >= 5  # onnxruntime, numpy, tokenizers, pydantic_core, orjson
    shipped = {p.name for p in objects}
    for path in objects:
        header = path.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", path
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[arch], path
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            readelf("-d", *map(str, objects))))  # fmt: skip
    assert needed - SYSTEM_LIBRARIES - shipped == set()
    symbols = readelf("--dyn-syms", "-W", *map(str, objects))
    glibc = {tuple(map(int, v.split("."))) for v in re.findall(r"@GLIBC_([0-9.]+)", symbols)}
    glibcxx = {tuple(map(int, v.split("."))) for v in re.findall(r"@GLIBCXX_([0-9.]+)", symbols)}
    assert max(glibc) <= MAX_GLIBC, max(glibc)
    assert max(glibcxx) <= MAX_GLIBCXX, max(glibcxx)


@pytest.mark.parametrize("arch", ARCHES)
def test_function_code_is_the_handler_package_alone(built: Path, arch: str) -> None:
    code = built_dir(arch) / "EmbeddingsFunction"
    assert sorted(p.name for p in code.iterdir()) == ["handler"]
    assert (code / "handler" / "app.py").is_file()
    assert (code / "handler" / "__pycache__" / "app.cpython-313.pyc").is_file()
    assert not list(code.rglob("*.pyi"))


@pytest.mark.parametrize("arch", ARCHES)
def test_model_layer_is_a_verified_artifact_named_like_the_template(
    built: Path, arch: str, template: dict[str, Any]
) -> None:
    model = built_dir(arch) / "ModelLayer"
    assert sorted(p.name for p in model.iterdir()) == ["model"]  # mounts at /opt/model
    manifest = load_manifest(model / "model", verify=True)
    assert manifest.model_id == template["Parameters"]["ModelId"]["Default"]
    assert sorted(p.name for p in (model / "model").iterdir()) == sorted(
        ["manifest.json", *manifest.files]
    )


@pytest.mark.parametrize("arch", ARCHES)
def test_each_further_model_layer_mounts_where_models_points(built: Path, arch: str) -> None:
    layer = built_dir(arch) / "ModelFp32Layer"
    [model_dir] = (layer / "models").iterdir()  # /opt/models/<id>
    manifest = load_manifest(model_dir, verify=True)
    assert manifest.model_id == model_dir.name == "all-MiniLM-L6-v2-fp32"
    models = load_template(built_dir(arch) / "template.yaml")["Resources"]["EmbeddingsFunction"]
    assert f"/opt/models/{model_dir.name}" in json.dumps(models["Properties"]["Environment"])


@pytest.mark.parametrize("arch", ARCHES)
def test_built_template_is_pinned_to_its_architecture(built: Path, arch: str) -> None:
    parameter = load_template(built_dir(arch) / "template.yaml")["Parameters"]["Architecture"]
    assert parameter["Default"] == arch
    assert parameter["AllowedValues"] == [arch]
