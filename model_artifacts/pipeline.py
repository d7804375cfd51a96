"""The build steps in order (export, fuse, quantize, optimise) and the checks of their result.

Imports torch through export.py and sentence-transformers for the reference, so it runs only
in the export venv (build/export-venv). Every figure the build records is measured through
`handler.embedder`, the function's own embedding loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from handler.embedder import BATCH_TOKENS, Embedder, load_embedder, make_session
from model_artifacts import attention, export, quantize, rowwise
from model_artifacts.embed import SESSION_LEVELS, load_tokenizer
from model_artifacts.fidelity import Fidelity, measure
from model_artifacts.inputs import CALIBRATION, read_lines
from model_artifacts.invariance import measure_invariance
from model_artifacts.long_inputs import measure_long_inputs
from model_artifacts.recipe import SMOOTH_ALPHAS
from model_artifacts.smooth import channel_amax
from model_artifacts.speed import compare_texts_per_second
from model_artifacts.st_config import SourceConfig

OFFLINE_LEVEL = quantize.OFFLINE_LEVEL
DISABLED_FUSIONS = quantize.DISABLED_FUSIONS
RUNTIME_LEVEL = quantize.RUNTIME_LEVEL
THREADS = 2
BATCH_SIZE = 32
SPEED_ROUNDS = 3
# The fp32 build's invariance sample: its arithmetic has no per-batch step at all (no
# quantization), so a third of the held-out corpus keeps `make model` short in CI.
FP32_INVARIANCE_TEXTS = 400
PROMPT_TEXTS = 200  # held-out texts embedded with each of the model's prompts


def build_fp32(source: SourceConfig, work: Path, target: Path) -> dict[str, Any]:
    """Write the fp32 graph, offline-optimised like the int8 one, to `target`."""
    fp32 = work / "fp32.onnx"
    export.export_fp32(source.path, fp32)
    quantize.optimize_offline(fp32, target)
    return {
        "inputs": list(export.INPUTS),
        "output": export.OUTPUT,
        "opset": export.OPSET,
        "ops": quantize.op_counts(target),
        "int8_products": [],
    }


def build(source: SourceConfig, work: Path, target: Path) -> dict[str, Any]:
    """Write the row-local int8, offline-optimised graph to `target`; intermediates in `work`."""
    fp32 = work / "fp32.onnx"
    export.export_fp32(source.path, fp32)
    config = json.loads((source.path / "config.json").read_text())
    fused = work / "fused.onnx"
    quantize.fuse_transformer(
        fp32,
        fused,
        config["num_attention_heads"],
        config["hidden_size"],
        embed_layer_norm=False,
        skip_layer_norm=False,
        multi_head=True,
    )
    merged = work / "merged.onnx"
    rowwise.merge_qkv(fused, merged)
    rows = work / "embeddings.onnx"
    quantize.int8_embedding_rows(merged, rows)
    tokenizer = load_tokenizer(source.path / "tokenizer.json", source.max_seq_length)
    graph = onnx.load(str(rows), load_external_data=False).graph
    tensors = sorted({n.input[0] for n in rowwise.weighted_matmuls(graph)})
    amax = channel_amax(
        rows,
        tensors,
        tokenizer.encode_batch(read_lines(CALIBRATION)),
        int(source.special_tokens["pad_token_id"]),
    )
    smoothed = work / "smoothed.onnx"
    rowwise.smooth(rows, smoothed, amax, SMOOTH_ALPHAS)
    row_int8 = work / "row_int8.onnx"
    products = rowwise.quantize_rows(smoothed, row_int8)
    plain = work / "plain_attention.onnx"
    attention.unfuse(row_int8, plain)
    quantize.optimize_offline(plain, target)
    return {
        "inputs": list(export.INPUTS),
        "output": export.OUTPUT,
        "opset": rowwise.OPSET,
        "ops": quantize.op_counts(target),
        "int8_products": products,
    }


def reference_model(source: SourceConfig) -> Any:
    """sentence-transformers fp32 in torch, the reference the gate compares against."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(THREADS)
    return SentenceTransformer(str(source.path), device="cpu")


def reference_encoder(source: SourceConfig, model: Any = None) -> Any:
    """Texts -> the reference's sentence embeddings."""
    model = model or reference_model(source)

    def encode(texts: list[str]) -> Any:
        return model.encode(list(texts), batch_size=BATCH_SIZE, convert_to_numpy=True)

    return encode


def reference_rows(source: SourceConfig, model: Any) -> Any:
    """Token-id rows (windows) -> the reference's pooled vectors, before its Normalize: its own
    Transformer and Pooling modules, fed the ids the served path feeds the int8 graph."""
    import numpy as np
    import torch

    transformer, pooling = model[0], model[1]
    pad = int(source.special_tokens["pad_token_id"])

    def encode(rows: list[list[int]]) -> Any:
        out = []
        for start in range(0, len(rows), BATCH_SIZE):
            chunk = rows[start : start + BATCH_SIZE]
            ids = torch.full((len(chunk), max(map(len, chunk))), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, row in enumerate(chunk):
                ids[r, : len(row)] = torch.tensor(row)
                mask[r, : len(row)] = 1
            features = {"input_ids": ids, "attention_mask": mask}
            features["token_type_ids"] = torch.zeros_like(ids)
            with torch.inference_mode():
                out.append(pooling(transformer(features))["sentence_embedding"].numpy())
        return np.concatenate(out).astype(np.float32)

    return encode


def prompt_fidelity(
    source: SourceConfig, model: Any, served: Embedder, texts: list[str]
) -> dict[str, Fidelity]:
    """Per non-empty prompt: the served vectors of prompt + text against sentence-transformers'
    encode(prompt_name=...), which tokenizes the prompt with the text the same way."""
    out = {}
    for name, text in source.prompts.items():
        if text:
            reference = model.encode(texts, prompt_name=name, batch_size=BATCH_SIZE)
            out[name] = measure(reference, served.embed(texts, prompt=text).vectors)
    return out


def evaluate_fp32(
    source: SourceConfig, staging: Path, work: Path, texts: list[str]
) -> dict[str, Any]:
    """Fidelity (whole held-out corpus and each prompt) and invariance of an fp32 artifact."""
    model = reference_model(source)
    served = load_embedder(staging, threads=THREADS, batch_size=BATCH_SIZE)
    return {
        "fidelity": measure(reference_encoder(source, model)(texts), served.embed(texts).vectors),
        "prompt_fidelity": prompt_fidelity(source, model, served, texts[:PROMPT_TEXTS]),
        "invariance": measure_invariance(
            lambda threads, batch: load_embedder(
                staging, threads=threads, batch_size=batch, verify=False
            ),
            texts[:FP32_INVARIANCE_TEXTS],
        ),
    }


def evaluate(source: SourceConfig, staging: Path, work: Path, texts: list[str]) -> dict[str, Any]:
    """Fidelity and invariance of the staged artifact, and texts/s of it, fp32 ONNX and torch.

    `staging` must already hold model.onnx, tokenizer.json and a manifest (without figures).
    """
    model = reference_model(source)
    reference = reference_encoder(source, model)
    int8 = load_embedder(staging, threads=THREADS, batch_size=BATCH_SIZE)
    fp32 = Embedder(
        int8.manifest,
        load_tokenizer(staging / "tokenizer.json", source.max_seq_length),
        make_session(work / "fp32.onnx", THREADS, SESSION_LEVELS["all"]),
        batch_size=BATCH_SIZE,
    )
    fidelity = measure(reference(texts), int8.embed(texts).vectors)
    invariance = measure_invariance(
        lambda threads, batch: load_embedder(
            staging, threads=threads, batch_size=batch, verify=False
        ),
        texts,
    )
    long_inputs = measure_long_inputs(
        int8,
        reference_rows(source, model),
        reference,
        lambda threads, batch: load_embedder(
            staging, threads=threads, batch_size=batch, verify=False
        ),
    )
    tps = compare_texts_per_second(
        {
            "int8_onnx": lambda t: int8.embed(t),
            "fp32_onnx": lambda t: fp32.embed(t),
            "torch_fp32": reference,
        },
        texts,
        rounds=SPEED_ROUNDS,
    )
    return {
        "fidelity": fidelity,
        "prompt_fidelity": prompt_fidelity(source, model, int8, texts[:PROMPT_TEXTS]),
        "invariance": invariance,
        "long_inputs": long_inputs,
        "speed": {
            "texts_per_second": {name: round(value, 1) for name, value in tps.items()},
            "int8_vs_torch": round(tps["int8_onnx"] / tps["torch_fp32"], 2),
            "int8_vs_fp32_onnx": round(tps["int8_onnx"] / tps["fp32_onnx"], 2),
            "threads": THREADS,
            "batch_size": BATCH_SIZE,
            "batch_tokens": BATCH_TOKENS,  # a run also stops at this many padded tokens
            "texts": len(texts),
            "rounds": SPEED_ROUNDS,
            "statistic": "median of interleaved rounds",
            "fp32_onnx_session_level": "ORT_ENABLE_ALL",
            "loop": "handler.embedder.Embedder.embed (int8 and fp32 ONNX)",
        },
    }
