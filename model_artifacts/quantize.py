"""fp32 ONNX -> fused graph -> int8 -> offline-optimised graph, each step one function.

Every step reads one file and writes another, so the build can keep its intermediates in a
scratch directory and a failed step never leaves a half-written artifact.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.fusion_options import FusionOptions
from onnxruntime.transformers.optimizer import optimize_model

# What the artifact's session needs at run time: the file already holds the fused, quantized
# and EXTENDED-optimised graph, so re-running the optimisers would only cost cold-start time.
OFFLINE_LEVEL = "ORT_ENABLE_EXTENDED"
RUNTIME_LEVEL = "ORT_DISABLE_ALL"


def fuse_transformer(
    source: Path, target: Path, num_heads: int, hidden_size: int
) -> dict[str, int]:
    """Fuse attention, embedding/skip layer norms and bias+GELU (onnxruntime's BERT fusions).

    Keeps the raw 2-D attention mask, so any padding side works. Returns the fused-op counts.
    """
    options = FusionOptions("bert")
    options.use_raw_attention_mask(True)
    model = optimize_model(
        str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size,
        optimization_options=options, opt_level=0,
    )
    model.save_model_to_file(str(target))
    stats: dict[str, int] = model.get_fused_operator_statistics()
    return {op: count for op, count in stats.items() if count}


def quantize_int8(source: Path, target: Path, exclude: list[str]) -> None:
    """Dynamic int8: int8 weights per output channel, uint8 activations per tensor at run time."""
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs every tensor at INFO
    quantize_dynamic(
        str(source),
        str(target),
        per_channel=True,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=exclude,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def optimize_offline(source: Path, target: Path, threads: int = 1) -> None:
    """Run onnxruntime's EXTENDED graph optimisations once and save the result.

    EXTENDED, not ALL: ALL adds layout transforms tied to this machine's CPU.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.intra_op_num_threads = threads
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def node_names(path: Path, op_type: str, name_contains: str = "") -> list[str]:
    model = onnx.load(str(path), load_external_data=False)
    return [n.name for n in model.graph.node if n.op_type == op_type and name_contains in n.name]


def op_counts(path: Path) -> dict[str, Any]:
    model = onnx.load(str(path), load_external_data=False)
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))
