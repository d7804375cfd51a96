"""fp32 ONNX -> fused graph -> int8 -> offline-optimised graph, each step one function.

Every step reads one file and writes another, so the build can keep its intermediates in a
scratch directory and a failed step never leaves a half-written artifact.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.fusion_options import FusionOptions
from onnxruntime.transformers.optimizer import optimize_model

# What the artifact's session needs at run time: the file already holds the fused, quantized
# and EXTENDED-optimised graph, so re-running the optimisers would only cost cold-start time.
OFFLINE_LEVEL = "ORT_ENABLE_EXTENDED"
RUNTIME_LEVEL = "ORT_DISABLE_ALL"


def fuse_transformer(
    source: Path,
    target: Path,
    num_heads: int,
    hidden_size: int,
    embed_layer_norm: bool = True,
    skip_layer_norm: bool = True,
    multi_head: bool = False,
) -> dict[str, int]:
    """Fuse attention, skip layer norms and bias+GELU (onnxruntime's BERT fusions).

    Keeps the raw 2-D attention mask, so any padding side works. Without embed_layer_norm the
    embedding lookups stay plain Gathers (so their table can be stored as int8 rows).
    With multi_head, attention becomes MultiHeadAttention fed by separate Q/K/V MatMuls (which
    the caller can then quantize like any product) instead of Attention with the projection inside.
    Returns the fused-op counts.
    """
    options = FusionOptions("bert")
    options.use_raw_attention_mask(True)
    options.enable_embed_layer_norm = embed_layer_norm
    options.enable_skip_layer_norm = skip_layer_norm
    options.enable_bias_skip_layer_norm = skip_layer_norm
    options.use_multi_head_attention = multi_head
    model = optimize_model(
        str(source),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
        optimization_options=options,
        opt_level=0,
    )
    model.save_model_to_file(str(target))
    stats: dict[str, int] = model.get_fused_operator_statistics()
    return {op: count for op, count in stats.items() if count}


def quantize_int8(
    source: Path,
    target: Path,
    exclude: list[str],
    op_types: tuple[str, ...] = ("MatMul", "Attention"),
) -> None:
    """Dynamic int8: int8 weights per output channel, uint8 activations per tensor at run time.

    Recipe v2's design, kept for the bench's bake-off (bench/candidates.py): one activation
    range per tensor couples the rows of a batch, so the artifact uses model_artifacts.rowwise.
    """
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs every tensor at INFO
    quantize_dynamic(
        str(source),
        str(target),
        per_channel=True,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=exclude,
        op_types_to_quantize=list(op_types),
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


# onnxruntime 1.31's CPU SkipLayerNormalization took 20% of the int8 model's time here, ten
# times the plain Add + LayerNormalization it replaces: keep them unfused.
DISABLED_FUSIONS = ("SkipLayerNormFusion",)


def optimize_offline(source: Path, target: Path, threads: int = 1) -> None:
    """Run onnxruntime's EXTENDED graph optimisations once and save the result.

    EXTENDED, not ALL: ALL adds layout transforms tied to this machine's CPU.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.intra_op_num_threads = threads
    ort.InferenceSession(
        str(source),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_FUSIONS),
    )


def op_counts(path: Path) -> dict[str, Any]:
    model = onnx.load(str(path), load_external_data=False)
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def int8_embedding_rows(source: Path, target: Path, ids_input: str = "input_ids") -> str:
    """Store the word-embedding table as int8 rows with one scale each; dequantize only the
    gathered rows. Per-row scales keep rare tokens' small vectors precise, unlike the
    quantizer's single scale for the whole table. Returns the rewritten Gather's name."""
    model = onnx.load(str(source))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    gathers = [
        n
        for n in graph.node
        if n.op_type == "Gather"
        and n.input[0] in inits
        and n.input[1] in (ids_input, f"{ids_input}_int32")
    ]
    if len(gathers) != 1:
        raise RuntimeError(
            f"expected one word-embedding Gather on {ids_input}; found {[n.name for n in gathers]}"
        )
    gather = gathers[0]
    table = onnx.numpy_helper.to_array(inits[gather.input[0]]).astype(np.float32)
    scale = np.maximum(np.abs(table).max(axis=1), 1e-12) / 127.0
    q = np.clip(np.rint(table / scale[:, None]), -127, 127).astype(np.int8)
    base = "word_embeddings_int8"
    graph.initializer.remove(inits[gather.input[0]])
    graph.initializer.extend(
        [
            onnx.numpy_helper.from_array(q, f"{base}_rows"),
            onnx.numpy_helper.from_array(scale.astype(np.float32)[:, None], f"{base}_scales"),
        ]
    )
    ids, out = gather.input[1], gather.output[0]
    replacement = [
        onnx.helper.make_node(
            "Gather", [f"{base}_rows", ids], [f"{base}_q"], name=f"{base}_gather"
        ),
        onnx.helper.make_node(
            "Gather", [f"{base}_scales", ids], [f"{base}_s"], name=f"{base}_gather_scale"
        ),
        onnx.helper.make_node(
            "Cast", [f"{base}_q"], [f"{base}_f"], name=f"{base}_cast", to=onnx.TensorProto.FLOAT
        ),
        onnx.helper.make_node("Mul", [f"{base}_f", f"{base}_s"], [out], name=f"{base}_scale"),
    ]
    rebuilt = []
    for node in graph.node:
        rebuilt.extend(replacement if node is gather else [node])
    del graph.node[:]
    graph.node.extend(rebuilt)
    onnx.save(model, str(target))
    return str(gather.name)
