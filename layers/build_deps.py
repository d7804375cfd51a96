"""Build the dependency layer's `python/` folder for one Lambda architecture, without Docker.

    python layers/build_deps.py --arch arm64 --requirements requirements/runtime.txt --out DIR

pip downloads only prebuilt wheels for the target (manylinux, CPython 3.13, the given CPU), so
the host's own OS and CPU do not matter. Then everything the function never imports is
removed, and with a 3.13 interpreter the rest is compiled to bytecode: /opt is read-only on
Lambda, so without shipped .pyc files every cold start would compile FastAPI, pydantic and
numpy from source again.

Choices (each measured; see docs/deployment.md):
- boto3/botocore are not shipped: the python3.13 runtime already has them, and the function
  only makes plain DynamoDB and SQS calls. Shipping them would add ~25 MB to every cold start.
- onnxruntime and tokenizers go in with --no-deps: onnxruntime's flatbuffers, packaging and
  protobuf serve only its offline tools, and tokenizers' huggingface-hub (requests, tqdm,
  pyyaml, fsspec, hf-xet) only downloads models. Both need numpy or nothing at import.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Lambda's python3.13 runs on Amazon Linux 2023 (glibc 2.34). onnxruntime ships no
# manylinux2014 wheel for cp312+, while tokenizers ships only manylinux2014 ones: list both.
GLIBC_TAGS = ("manylinux2014", "manylinux_2_28", "manylinux_2_34")
CPU = {"arm64": "aarch64", "x86_64": "x86_64"}
PYTHON_VERSION = "3.13"

PROVIDED_BY_RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3"}
NO_DEPS = {"onnxruntime", "tokenizers"}
# Never expected in the layer: a dependency change that drags one in must fail the build.
FORBIDDEN = {"boto3", "botocore", "sympy", "huggingface_hub", "protobuf", "torch"}

# Paths (relative to python/) the function never imports.
STRIP_PATHS = (
    "bin",  # console scripts (fastapi, f2py, numpy-config): no shell on Lambda uses them
    "onnxruntime/quantization",
    "onnxruntime/transformers",
    "onnxruntime/tools",
    "onnxruntime/datasets",
    "onnxruntime/backend",  # the ONNX backend-test API; needs the onnx package
    "numpy/f2py",  # Fortran wrapper generator, loaded only on `numpy.f2py` access
    "numpy/_core/include",  # C headers, for building extensions
    "numpy/_pyinstaller",
    "numpy/doc",
)
# onnxruntime's C-API library (~29 MB) is for plugin execution providers and C callers: the
# Python binding links the runtime statically and never loads it (readelf: no NEEDED entry).
STRIP_GLOBS = ("onnxruntime/capi/libonnxruntime.so*",)
STRIP_DIR_NAMES = {"tests", "__pycache__"}
STRIP_SUFFIXES = (".pyi", ".pxd", ".h", ".c")


def requirement_name(line: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return match.group(1).lower().replace("_", "-") if match else ""


def read_requirements(path: Path) -> tuple[list[str], list[str]]:
    """(with_deps, no_deps) requirement lines; those the runtime provides are dropped."""
    with_deps: list[str] = []
    no_deps: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        name = requirement_name(line)
        if not name or name in PROVIDED_BY_RUNTIME:
            continue
        (no_deps if name in NO_DEPS else with_deps).append(line)
    return with_deps, no_deps


def pip_install(requirements: list[str], out: Path, arch: str, deps: bool) -> None:
    if not requirements:
        return
    cpu = CPU[arch]
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    cmd += ["--root-user-action=ignore"]
    cmd += ["--target", str(out), "--upgrade", "--only-binary=:all:"]
    cmd += ["--implementation", "cp", "--python-version", PYTHON_VERSION, "--abi", "cp313"]
    for tag in GLIBC_TAGS:
        cmd += ["--platform", f"{tag}_{cpu}"]
    if not deps:
        cmd.append("--no-deps")
    subprocess.run([*cmd, *requirements], check=True)


def check_forbidden(out: Path) -> None:
    found = sorted(name for name in FORBIDDEN if (out / name).exists())
    if found:
        raise SystemExit(f"the dependency layer must not contain {found}: check requirements")


def strip(out: Path) -> None:
    for rel in STRIP_PATHS:
        path = out / rel
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for pattern in STRIP_GLOBS:
        for path in out.glob(pattern):
            path.unlink()
    for path in sorted(out.rglob("*"), reverse=True):
        if path.is_dir() and path.name in STRIP_DIR_NAMES:
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in STRIP_SUFFIXES:
            path.unlink()


def compile_bytecode(out: Path) -> bool:
    """Compile to .pyc when this interpreter is the target's (bytecode is version-specific).

    unchecked-hash: the .pyc is trusted without comparing source mtimes, which zipping and
    unzipping do not preserve exactly.
    """
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != PYTHON_VERSION:
        print(f"warning: Python {sys.version.split()[0]} is not {PYTHON_VERSION}: no .pyc shipped")
        return False
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(out),
        ],
        check=True,
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(CPU), required=True)
    parser.add_argument("--requirements", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the layer's python/ folder")
    parser.add_argument("--no-compile", action="store_true", help="ship sources only")
    args = parser.parse_args(argv)

    with_deps, no_deps = read_requirements(args.requirements)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    pip_install(with_deps, args.out, args.arch, deps=True)
    pip_install(no_deps, args.out, args.arch, deps=False)
    check_forbidden(args.out)
    strip(args.out)
    if not args.no_compile:
        compile_bytecode(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
