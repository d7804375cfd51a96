"""Stage the model layer and the function code for `sam build` (see sam-targets.mk).

    python layers/stage.py model --src build/model --out ARTIFACTS/model
    python layers/stage.py model --src build/models/ID --out ARTIFACTS/models --by-id
    python layers/stage.py code --src handler --out ARTIFACTS/handler

`model` refuses an artifact whose files do not match its manifest (handler/artifact.py), so a
half-built or stale model never reaches a layer; it copies only the manifest and the files
it lists. `code` copies the handler package without caches and compiles it like the
dependency layer.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

LAYERS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(LAYERS_DIR.parent))  # the repo, for handler.artifact

from build_deps import compile_bytecode  # noqa: E402

from handler.artifact import MANIFEST_NAME, ArtifactError, load_manifest  # noqa: E402

CODE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyi", ".*")


def stage_model(src: Path, out: Path, by_id: bool = False) -> None:
    """Copy the verified artifact to `out` (with by_id: to out/<its model id>)."""
    try:
        manifest = load_manifest(src, verify=True)
    except ArtifactError as exc:
        raise SystemExit(f"model layer: {exc}") from None
    if by_id:
        out = out / manifest.model_id
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in [MANIFEST_NAME, *sorted(manifest.files)]:
        shutil.copy2(src / name, out / name)
    print(f"model layer: {manifest.model_id} ({manifest.artifact_sha[:12]}) -> {out}")


def stage_code(src: Path, out: Path) -> None:
    if not (src / "app.py").is_file():
        raise SystemExit(f"function code: no app.py in {src}: CodeUri must be handler/")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src, out, ignore=CODE_IGNORE)
    compile_bytecode(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["model", "code"])
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--by-id", action="store_true", help="model: into OUT/<model id>")
    args = parser.parse_args(argv)
    if args.what == "model":
        stage_model(args.src.resolve(), args.out, args.by_id)
    else:
        stage_code(args.src.resolve(), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
