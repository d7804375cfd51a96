"""SmoothQuant for the fused BERT graph: move activation outliers into the weights.

Dynamic int8 quantizes each activation tensor with ONE range, and a few hidden channels of a
BERT carry values tens of times larger than the rest, so most channels get a handful of levels.
For every quantized product X·W we pick a per-input-channel factor s (from calibration
statistics: s_j = max|X_j|^alpha / max|W_j|^(1-alpha)), compute (X/s)·(s·W), which is the same
product, and let the quantizer see the flattened X/s and the per-channel-quantized s·W.

X/s costs a Mul before the product, except where X is an Attention output: its channels are
linear in the V projection, so 1/s folds into V's weight columns and bias at no run-time cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from handler.embedder import make_session
from model_artifacts.embed import SESSION_LEVELS, length_sorted_batches, pad_batch

Array = NDArray[np.float32]


def _targets(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Nodes whose first input the quantizer will quantize against a constant weight."""
    weights = {init.name for init in model.graph.initializer}
    return [n for n in model.graph.node
            if n.op_type in ("MatMul", "Attention") and n.input[1] in weights]


def channel_amax(model_path: Path, tensors: Sequence[str], encodings: Sequence[object],
                 pad_id: int, batch_size: int = 16) -> dict[str, Array]:
    """max |x| per last-axis channel of each tensor, over the real (unpadded) tokens."""
    model = onnx.load(str(model_path))
    known = {o.name for o in model.graph.output}
    for name in tensors:
        if name not in known:
            model.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                                    None))
    probe = model_path.with_name(model_path.stem + ".probe.onnx")
    onnx.save(model, str(probe))
    session = make_session(probe, 2, SESSION_LEVELS["disable_all"])
    inputs = [i.name for i in session.get_inputs()]
    amax: dict[str, Array] = {}
    for batch in length_sorted_batches(encodings, batch_size):  # type: ignore[arg-type]
        feed = pad_batch([encodings[i] for i in batch], pad_id)  # type: ignore[misc]
        outputs = session.run(list(tensors), {name: feed[name] for name in inputs})
        real = feed["attention_mask"].astype(bool)
        for name, value in zip(tensors, outputs, strict=True):
            batch_max = np.abs(value[real]).max(axis=0)
            amax[name] = batch_max if name not in amax else np.maximum(amax[name], batch_max)
    probe.unlink()
    return amax


def kind(node: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> str:
    """Which product of a BERT layer this is: qkv, attn_out, ffn_in or ffn_out."""
    if node.op_type == "Attention":
        return "qkv"
    producer = producers.get(node.input[0])
    op = producer.op_type if producer is not None else ""
    return {"Attention": "attn_out", "BiasGelu": "ffn_out", "Gelu": "ffn_out"}.get(op, "ffn_in")


def smooth(source: Path, target: Path, encodings: Sequence[object], pad_id: int,
           alphas: dict[str, float]) -> list[str]:
    """Write the smoothed fp32 graph; return the names of the nodes it rescaled.

    `alphas` maps a product's kind (see `kind`) to its migration strength; kinds not in it
    are left alone.
    """
    model = onnx.load(str(source))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    nodes = [n for n in _targets(model) if kind(n, producers) in alphas]
    amax = channel_amax(source, sorted({n.input[0] for n in nodes}), encodings, pad_id)
    new_nodes: dict[int, onnx.NodeProto] = {}  # position -> Mul to insert before it
    order = {id(n): i for i, n in enumerate(graph.node)}
    for node in nodes:
        weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        alpha = alphas[kind(node, producers)]
        a = np.maximum(amax[node.input[0]], 1e-5)
        w = np.maximum(np.abs(weight).max(axis=1), 1e-5)
        scale = (a**alpha / w ** (1 - alpha)).astype(np.float32)
        _replace(inits[node.input[1]], weight * scale[:, None])
        producer = producers.get(node.input[0])
        if producer is not None and producer.op_type == "Attention":
            _fold_into_v(producer, inits, 1.0 / scale)
            continue
        inv = numpy_helper.from_array((1.0 / scale).astype(np.float32), f"{node.name}_smooth_inv")
        graph.initializer.append(inv)
        scaled = f"{node.input[0]}_smoothed_for_{node.name}"
        new_nodes[order[id(node)]] = helper.make_node(
            "Mul", [node.input[0], inv.name], [scaled], name=f"{node.name}_smooth")
        node.input[0] = scaled
    rebuilt = []
    for i, node in enumerate(graph.node):
        if i in new_nodes:
            rebuilt.append(new_nodes[i])
        rebuilt.append(node)
    del graph.node[:]
    graph.node.extend(rebuilt)
    onnx.save(model, str(target))
    return [n.name for n in nodes]


def _replace(init: onnx.TensorProto, value: Array) -> None:
    init.CopyFrom(numpy_helper.from_array(value.astype(np.float32), init.name))


def _fold_into_v(attention: onnx.NodeProto, inits: dict[str, onnx.TensorProto],
                 factor: Array) -> None:
    """Scale the V third of a packed-QKV Attention's weight columns and bias by `factor`."""
    weight = numpy_helper.to_array(inits[attention.input[1]]).astype(np.float32)
    bias = numpy_helper.to_array(inits[attention.input[2]]).astype(np.float32)
    hidden = factor.shape[0]
    if weight.shape[1] != 3 * hidden:
        raise ValueError(f"{attention.name}: expected packed QKV of width {3 * hidden}")
    weight[:, 2 * hidden :] *= factor[None, :]
    bias[2 * hidden :] *= factor
    _replace(inits[attention.input[1]], weight)
    _replace(inits[attention.input[2]], bias)
