"""The build steps in order (export, fuse, quantize, optimise) and the checks of their result.

Imports torch through export.py and sentence-transformers for the reference, so it runs only
in the export venv (build/export-venv).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from handler.embedder import make_session
from model_artifacts import export, quantize
from model_artifacts.embed import SESSION_LEVELS, OnnxEmbedder, load_tokenizer
from model_artifacts.fidelity import measure
from model_artifacts.inputs import CALIBRATION, read_lines
from model_artifacts.recipe import SMOOTH_ALPHAS
from model_artifacts.smooth import smooth
from model_artifacts.speed import compare_texts_per_second
from model_artifacts.st_config import SourceConfig

OFFLINE_LEVEL = quantize.OFFLINE_LEVEL
DISABLED_FUSIONS = quantize.DISABLED_FUSIONS
RUNTIME_LEVEL = quantize.RUNTIME_LEVEL
THREADS = 2
BATCH_SIZE = 32
SPEED_ROUNDS = 3
# FFN output projections (intermediate 4h -> h): their inputs are post-GELU, sparse and
# heavy-tailed, which one per-tensor uint8 range renders worst of all the products.
FFN_OUTPUT = re.compile(r"layer\.\d+/output/dense/MatMul$")


def build(source: SourceConfig, work: Path, target: Path) -> dict[str, Any]:
    """Write the int8, offline-optimised graph to `target`; keep intermediates in `work`."""
    fp32 = work / "fp32.onnx"
    export.export_fp32(source.path, fp32)
    config = _hf_config(source)
    fused = work / "fused.onnx"
    quantize.fuse_transformer(fp32, fused, config["num_attention_heads"], config["hidden_size"],
                              embed_layer_norm=False, skip_layer_norm=False)
    rows = work / "embeddings.onnx"
    quantize.int8_embedding_rows(fused, rows)
    smoothed = work / "smoothed.onnx"
    tokenizer = load_tokenizer(source.path / "tokenizer.json", source.max_seq_length)
    calibration = tokenizer.encode_batch(read_lines(CALIBRATION))
    smooth(rows, smoothed, calibration, int(source.special_tokens["pad_token_id"]), SMOOTH_ALPHAS)
    ffn_outputs = [n for n in quantize.node_names(smoothed, "MatMul") if FFN_OUTPUT.search(n)]
    if not ffn_outputs:
        raise RuntimeError("found no FFN output MatMul: unexpected graph node names")
    dynamic = work / "dynamic.onnx"
    quantize.quantize_int8(smoothed, dynamic, exclude=ffn_outputs)
    weight_only = work / "weight_only.onnx"
    quantize.weight_only_int8(dynamic, weight_only, ffn_outputs)
    quantize.optimize_offline(weight_only, target)
    return {
        "inputs": list(export.INPUTS),
        "output": export.OUTPUT,
        "opset": export.OPSET,
        "ops": quantize.op_counts(target),
        "weight_only_nodes": ffn_outputs,
    }


def _hf_config(source: SourceConfig) -> dict[str, Any]:
    import json

    return dict(json.loads((source.path / "config.json").read_text()))


def reference_encoder(source: SourceConfig) -> Any:
    """sentence-transformers fp32 in torch, the reference the gate compares against."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(THREADS)
    model = SentenceTransformer(str(source.path), device="cpu")

    def encode(texts: list[str]) -> Any:
        return model.encode(list(texts), batch_size=BATCH_SIZE, convert_to_numpy=True)

    return encode


def onnx_encoder(source: SourceConfig, model: Path, tokenizer: Path, level: str) -> OnnxEmbedder:
    return OnnxEmbedder(
        make_session(model, THREADS, SESSION_LEVELS[level]),
        load_tokenizer(tokenizer, source.max_seq_length),
        pooling=source.pooling,
        normalize=source.normalize,
        pad_id=int(source.special_tokens["pad_token_id"]),
        output=export.OUTPUT,
    )


def evaluate(source: SourceConfig, staging: Path, work: Path, texts: list[str]) -> dict[str, Any]:
    """Fidelity of the staged artifact against torch, and texts/s of int8, fp32 ONNX and torch."""
    reference = reference_encoder(source)
    int8 = onnx_encoder(source, staging / "model.onnx", staging / "tokenizer.json",
                        level=RUNTIME_LEVEL.removeprefix("ORT_").lower())
    fp32 = onnx_encoder(source, work / "fp32.onnx", staging / "tokenizer.json", level="all")
    fidelity = measure(reference(texts), int8.encode(texts, BATCH_SIZE))
    tps = compare_texts_per_second(
        {
            "int8_onnx": lambda t: int8.encode(t, BATCH_SIZE),
            "fp32_onnx": lambda t: fp32.encode(t, BATCH_SIZE),
            "torch_fp32": reference,
        },
        texts,
        rounds=SPEED_ROUNDS,
    )
    return {
        "fidelity": fidelity,
        "speed": {
            "texts_per_second": {name: round(value, 1) for name, value in tps.items()},
            "int8_vs_torch": round(tps["int8_onnx"] / tps["torch_fp32"], 2),
            "int8_vs_fp32_onnx": round(tps["int8_onnx"] / tps["fp32_onnx"], 2),
            "threads": THREADS,
            "batch_size": BATCH_SIZE,
            "texts": len(texts),
            "rounds": SPEED_ROUNDS,
            "statistic": "median of interleaved rounds",
            "fp32_onnx_session_level": "ORT_ENABLE_ALL",
        },
    }
