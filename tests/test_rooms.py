"""The room map (docs/architecture.md) as a test: every module under handler/ is parsed and
each of its imports checked against what its room may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HANDLER = Path(__file__).resolve().parents[1] / "handler"

# room -> the modules in it (a trailing "." is a package and everything under it)
ROOMS = {
    "ground": (
        "handler.settings",
        "handler.records",
        "handler.logs",
        "handler.metrics",
        "handler.version",
    ),
    "compute": ("handler.artifact", "handler.embedder", "handler.encodings"),
    "errors": ("handler.errors",),
    "pipeline": (
        "handler.embeddings.",
        "handler.embedding_request",
        "handler.embedding_checks",
        "handler.embedding_response",
        "handler.response_models",
    ),
    "seams": ("handler.hooks", "handler.offload"),
    "usage": ("handler.usage.",),
    "batch": ("handler.batch.",),
    "routes": ("handler.routes.",),
    "wiring": (
        "handler.http_errors",
        "handler.deferred",
        "handler.framework",
        "handler.middleware",
        "handler.openapi",
        "handler.prometheus",
        "handler.lambda_adapter",
        "handler.factory",
        "handler.snapstart",
        "handler.app",
        "handler.server",
    ),
}
BELOW_ROUTES = ("ground", "compute", "errors", "pipeline", "seams", "usage", "batch")
# room -> the rooms of handler/ it may import (its own included)
MAY_IMPORT = {
    "ground": ("ground",),
    "compute": ("ground", "compute"),
    "errors": ("ground", "compute", "errors"),
    "pipeline": ("ground", "compute", "errors", "pipeline"),
    "seams": ("ground", "seams"),
    "usage": ("ground", "errors", "seams", "usage"),
    "batch": ("ground", "compute", "errors", "pipeline", "seams", "usage", "batch"),
    "routes": (*BELOW_ROUTES, "routes"),
    "wiring": (*ROOMS,),
}
WEB = ("fastapi", "starlette", "mangum", "prometheus_client")
AWS = ("boto3", "botocore")
# room -> third-party packages it must not import
FORBIDDEN = {
    "ground": (*WEB, *AWS, "pydantic", "numpy", "onnxruntime"),
    "compute": (*WEB, *AWS, "pydantic"),
    "errors": (*WEB, *AWS, "pydantic"),
    "pipeline": (*WEB, *AWS),
    "seams": ("fastapi", "mangum", "prometheus_client", *AWS),  # offload: Starlette's types
    "usage": WEB,
    "batch": WEB,
}
# The records module is read by the replay function, which runs without the dependency layer.
STDLIB_ONLY = {"handler.records"}


def module_name(path: Path) -> str:
    parts = path.relative_to(HANDLER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str | None:
    for room, members in ROOMS.items():
        for member in members:
            if module == member or (member.endswith(".") and module.startswith(member)):
                return room
            if member.endswith(".") and module == member[:-1]:
                return room
    return None


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (TYPE_CHECKING ones included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "handler":  # `from handler import errors`
                found.update(f"handler.{alias.name}" for alias in node.names)
    return found


MODULES = sorted(HANDLER.rglob("*.py"))


@pytest.mark.unit
def test_every_module_has_a_room() -> None:
    homeless = [module_name(p) for p in MODULES if module_name(p) != "handler"]
    assert [m for m in homeless if room_of(m) is None] == []


def violations() -> set[tuple[str, str]]:
    found = set()
    for path in MODULES:
        module = module_name(path)
        room = room_of(module)
        if room is None:
            continue
        for imported in imports_of(path):
            top = imported.split(".")[0]
            if top == "handler":
                target = room_of(imported)
                if target is not None and target not in MAY_IMPORT[room]:
                    found.add((module, imported))
            elif top in FORBIDDEN.get(room, ()):
                found.add((module, top))
    return found


@pytest.mark.unit
def test_no_room_imports_what_the_map_forbids() -> None:
    assert violations() == set()


@pytest.mark.unit
def test_records_import_only_the_standard_library() -> None:
    import sys

    for path in MODULES:
        if module_name(path) in STDLIB_ONLY:
            tops = {name.split(".")[0] for name in imports_of(path)} - {"__future__"}
            assert tops <= set(sys.stdlib_module_names), path


@pytest.mark.unit
def test_the_map_catches_a_forbidden_import(tmp_path: Path) -> None:
    # GIVEN the embedder importing FastAPI and usage/ importing a route
    embedder = tmp_path / "embedder.py"
    embedder.write_text("import fastapi\nfrom handler.routes.common import services\n")
    found = imports_of(embedder)
    # THEN both are seen, and the rules refuse both for those rooms
    assert "fastapi" in FORBIDDEN["compute"] and "fastapi" in found
    assert room_of("handler.routes.common") not in MAY_IMPORT["usage"]


@pytest.mark.integration  # a fresh interpreter
def test_the_batch_worker_and_the_usage_module_load_no_web_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, handler.batch.worker, handler.batch.service, handler.usage.service;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi','starlette','mangum'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=HANDLER.parent
    )
    assert loaded.stdout.strip() == "[]"
