"""Row-local int8: every product's arithmetic depends only on its own token's row.

Dynamic int8 with one activation range per tensor couples every row of a batch (padding
included) through that range. Here each token row x gets its own scale s = max|x| / 127, is
quantized to uint8 around 128, multiplied by int8 per-channel weights with int32 accumulation
(exact, so neither kernel order nor threads can change it), and the result is rescaled by s
and the weight column scales: all elementwise IEEE operations on that row alone.

The graph stays standard ONNX (opset 21 for QuantizeLinear's blocked scales: one block per row)
plus onnxruntime's MatMulIntegerToFloat, FusedMatMul and BiasGelu; attention is fp32 and per
sequence (model_artifacts/attention.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper

Array = NDArray[np.float32]
OPSET = 21  # QuantizeLinear with block_size (one scale per row of the last axis)
ZERO_POINT = 128  # uint8 around 128 is symmetric int8: the fast u8s8 kernels on x86 and arm64


Producers = dict[str, onnx.NodeProto]
Consumers = dict[str, list[onnx.NodeProto]]


def _maps(graph: onnx.GraphProto) -> tuple[Producers, Consumers]:
    producers = {out: node for node in graph.node for out in node.output}
    consumers: Consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return producers, consumers


def kind(node: onnx.NodeProto, graph: onnx.GraphProto) -> str:
    """qkv, attn_out, ffn_in or ffn_out: which product of a BERT layer `node` is."""
    producers, consumers = _maps(graph)
    after = {c.op_type for out in node.output for c in consumers.get(out, [])}
    before = producers.get(node.input[0])
    if "Split" in after or "MultiHeadAttention" in after:
        return "qkv"
    if before is not None and before.op_type == "MultiHeadAttention":
        return "attn_out"
    if before is not None and before.op_type in ("BiasGelu", "Gelu"):
        return "ffn_out"
    return "ffn_in"


def weighted_matmuls(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    weights = {init.name for init in graph.initializer}
    return [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def merge_qkv(source: Path, target: Path) -> int:
    """One MatMul + Split per layer instead of three MatMuls on the same input; returns layers."""
    model = onnx.load(str(source))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    producers, _ = _maps(graph)
    merged = 0
    for mha in [n for n in graph.node if n.op_type == "MultiHeadAttention"]:
        parts = [producers[name] for name in mha.input[:3]]
        if {p.op_type for p in parts} != {"MatMul"} or len({p.input[0] for p in parts}) != 1:
            raise RuntimeError(f"{mha.name}: Q, K and V are not MatMuls of one input")
        weight = np.concatenate([numpy_helper.to_array(inits[p.input[1]]) for p in parts], axis=1)
        base = mha.name + "_qkv"
        graph.initializer.append(numpy_helper.from_array(weight.astype(np.float32), base + "_w"))
        width = weight.shape[1] // 3
        graph.initializer.append(
            numpy_helper.from_array(np.array([width] * 3, np.int64), base + "_split")
        )
        matmul = helper.make_node(
            "MatMul", [parts[0].input[0], base + "_w"], [base], name=base + "/MatMul"
        )
        split = helper.make_node(
            "Split", [base, base + "_split"], list(mha.input[:3]), name=base + "/Split", axis=-1
        )
        index = list(graph.node).index(parts[0])
        for part in parts:
            graph.node.remove(part)
            graph.initializer.remove(inits.pop(part.input[1]))
        graph.node.insert(index, split)
        graph.node.insert(index, matmul)
        merged += 1
    onnx.save(model, str(target))
    return merged


def smooth(
    source: Path, target: Path, amax: Mapping[str, Array], alphas: Mapping[str, float]
) -> list[str]:
    """SmoothQuant: (x / c) · (c W) with c_j = amax_j^a / max|W_j|^(1-a), per input channel.

    `amax` maps a MatMul's input tensor to its calibration max |x| per channel. Where the input
    is an attention output, 1/c folds into V's weight columns and bias; elsewhere it is a Mul.
    Returns the names of the rescaled MatMuls.
    """
    model = onnx.load(str(source))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    producers, _ = _maps(graph)
    done = []
    for node in weighted_matmuls(graph):
        alpha = alphas.get(kind(node, graph))
        if alpha is None:
            continue
        weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        a = np.maximum(amax[node.input[0]], 1e-5)
        w = np.maximum(np.abs(weight).max(axis=1), 1e-5)
        c = (a**alpha / w ** (1 - alpha)).astype(np.float32)
        _replace(inits[node.input[1]], weight * c[:, None])
        before = producers.get(node.input[0])
        if before is not None and before.op_type == "MultiHeadAttention":
            _fold_into_v(before, producers, inits, 1.0 / c)
        else:
            inv = numpy_helper.from_array((1.0 / c).astype(np.float32), node.name + "_smooth_inv")
            graph.initializer.append(inv)
            scaled = node.input[0] + "_smoothed"
            graph.node.insert(
                list(graph.node).index(node),
                helper.make_node(
                    "Mul", [node.input[0], inv.name], [scaled], name=node.name + "_smooth"
                ),
            )
            node.input[0] = scaled
        done.append(node.name)
    onnx.save(model, str(target))
    return done


def _replace(init: onnx.TensorProto, value: Array) -> None:
    init.CopyFrom(numpy_helper.from_array(value.astype(np.float32), init.name))


def _fold_into_v(
    mha: onnx.NodeProto,
    producers: dict[str, onnx.NodeProto],
    inits: dict[str, onnx.TensorProto],
    factor: Array,
) -> None:
    """Scale V's weight columns (the last third of the merged QKV weight) and V's bias."""
    split = producers[mha.input[2]]
    matmul = producers[split.input[0]]
    weight = numpy_helper.to_array(inits[matmul.input[1]]).astype(np.float32)
    bias = numpy_helper.to_array(inits[mha.input[3]]).astype(np.float32)
    hidden = factor.shape[0]
    weight[:, 2 * hidden :] *= factor[None, :]
    bias[2 * hidden :] *= factor
    _replace(inits[matmul.input[1]], weight)
    _replace(inits[mha.input[3]], bias)


def quantize_rows(
    source: Path, target: Path, exclude: frozenset[str] = frozenset(), ids_input: str = "input_ids"
) -> list[str]:
    """Rewrite every weighted MatMul not named in `exclude` as per-row int8; returns names."""
    model = onnx.load(str(source))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    nodes = [n for n in weighted_matmuls(graph) if n.name not in exclude]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([-1], np.int64), "rowq_last_axis"),
            numpy_helper.from_array(np.array(1e-12, np.float32), "rowq_tiny"),
            numpy_helper.from_array(np.array(1 / 127, np.float32), "rowq_inv127"),
            numpy_helper.from_array(np.array(ZERO_POINT, np.uint8), "rowq_zero_point"),
        ]
    )
    # One uint8 zero point per token row, [batch, sequence, 1], shared by every product.
    zero_rows = [
        helper.make_node("Shape", [ids_input], ["rowq_ids_shape"], name="rowq/Shape"),
        helper.make_node(
            "ConstantOfShape",
            ["rowq_ids_shape"],
            ["rowq_zp_2d"],
            name="rowq/Fill",
            value=numpy_helper.from_array(np.array([ZERO_POINT], np.uint8)),
        ),
        helper.make_node(
            "Unsqueeze", ["rowq_zp_2d", "rowq_last_axis"], ["rowq_zp"], name="rowq/Unsqueeze"
        ),
    ]
    rebuilt = list(zero_rows)
    wanted = {id(n) for n in nodes}
    for node in graph.node:
        if id(node) not in wanted:
            rebuilt.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        rebuilt.extend(_row_int8_matmul(graph, node, weight))
        graph.initializer.remove(inits.pop(node.input[1]))
    del graph.node[:]
    graph.node.extend(rebuilt)
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = max(opset.version, OPSET)
    onnx.save(model, str(target))
    return [n.name for n in nodes]


def _row_int8_matmul(
    graph: onnx.GraphProto, node: onnx.NodeProto, weight: Array
) -> list[onnx.NodeProto]:
    x, out = node.input[0], node.output[0]
    base = node.name
    depth = weight.shape[0]
    w_scale = (np.maximum(np.abs(weight).max(axis=0), 1e-12) / 127.0).astype(np.float32)
    w_q = np.clip(np.rint(weight / w_scale), -127, 127).astype(np.int8)
    graph.initializer.extend(
        [
            numpy_helper.from_array(w_q, base + "_w_int8"),
            numpy_helper.from_array(w_scale, base + "_w_scale"),
        ]
    )

    def make(op: str, inputs: list[str], output: str, **attrs: object) -> onnx.NodeProto:
        return helper.make_node(op, inputs, [output], name=f"{output}/{op}", **attrs)

    return [
        make("Abs", [x], base + "_abs"),
        make("ReduceMax", [base + "_abs", "rowq_last_axis"], base + "_amax", keepdims=1),
        make("Max", [base + "_amax", "rowq_tiny"], base + "_amax_pos"),
        make("Mul", [base + "_amax_pos", "rowq_inv127"], base + "_row_scale"),
        make(
            "QuantizeLinear",
            [x, base + "_row_scale", "rowq_zp"],
            base + "_x_uint8",
            axis=-1,
            block_size=depth,
        ),
        # int32 products -> float times the column scales in the GEMM's output step, then times
        # the row scale: an A scale of shape [..., 1] is applied per row inside the same kernel
        # (onnxruntime's MatMulIntegerToFloat; the same two IEEE products as a separate Mul)
        helper.make_node(
            "MatMulIntegerToFloat",
            [
                base + "_x_uint8",
                base + "_w_int8",
                base + "_row_scale",
                base + "_w_scale",
                "rowq_zero_point",
            ],
            [out],
            name=base + "/MatMulIntegerToFloat",
            domain="com.microsoft",
        ),
    ]
