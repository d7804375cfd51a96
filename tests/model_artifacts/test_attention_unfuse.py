"""model_artifacts.attention.unfuse: plain-op attention gives MultiHeadAttention's bits, and a
sequence's output does not depend on its batch-mates or their padding.

onnx lives only in the export venv (build/export-venv, made by `make model`), so the check
runs there as a script and reports JSON.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration  # torch, in the export venv
REPO = Path(__file__).resolve().parents[2]
EXPORT_PY = REPO / "build" / "export-venv" / "bin" / "python"

SCRIPT = r"""
import json, sys
from pathlib import Path
import numpy as np, onnx, onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from model_artifacts import attention

heads, size = 4, 8
width = heads * size
work = Path(sys.argv[1])
rng = np.random.default_rng(7)
bias = numpy_helper.from_array(rng.standard_normal(3 * width).astype(np.float32), "qkv_bias")
split = numpy_helper.from_array(np.array([width] * 3, np.int64), "qkv_split")
nodes = [
    helper.make_node("Split", ["qkv", "qkv_split"], ["q", "k", "v"], name="split", axis=-1),
    helper.make_node("Cast", ["mask"], ["mask32"], name="cast", to=TensorProto.INT32),
    helper.make_node("MultiHeadAttention", ["q", "k", "v", "qkv_bias", "mask32"], ["out"],
                     name="mha", domain="com.microsoft", num_heads=heads),
]
graph = helper.make_graph(
    nodes, "g",
    [helper.make_tensor_value_info("qkv", TensorProto.FLOAT, ["b", "s", 3 * width]),
     helper.make_tensor_value_info("mask", TensorProto.INT64, ["b", "s"])],
    [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", "s", width])],
    [bias, split])
model = helper.make_model(graph, ir_version=10, opset_imports=[
    helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
onnx.save(model, str(work / "mha.onnx"))
count = attention.unfuse(work / "mha.onnx", work / "plain.onnx")
ops = sorted({n.op_type for n in onnx.load(str(work / "plain.onnx")).graph.node})

def session(name):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(work / name), options, providers=["CPUExecutionProvider"])

mha, plain = session("mha.onnx"), session("plain.onnx")
lengths = np.array([2, 5, 9, 17, 33, 70, 3, 33])
seq = int(lengths.max())
qkv = rng.standard_normal((len(lengths), seq, 3 * width)).astype(np.float32)
mask = (np.arange(seq)[None] < lengths[:, None]).astype(np.int64)
batched = plain.run(None, {"qkv": qkv, "mask": mask})[0]
reference = mha.run(None, {"qkv": qkv, "mask": mask})[0]
real = mask.astype(bool)
alone_diff = 0.0
for row, n in enumerate(lengths):
    alone = plain.run(None, {"qkv": qkv[row:row + 1, :n], "mask": mask[row:row + 1, :n]})[0]
    alone_diff = max(alone_diff, float(np.abs(alone[0] - batched[row, :n]).max()))
print(json.dumps({
    "rewritten": count,
    "ops": ops,
    "vs_mha": float(np.abs(batched - reference)[real].max()),
    "alone_vs_batched": alone_diff,
}))
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not EXPORT_PY.exists():
        pytest.skip("build/export-venv is missing: run `make model` first")
    work = tmp_path_factory.mktemp("attention")
    result = subprocess.run(
        [str(EXPORT_PY), "-c", SCRIPT, str(work)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_multi_head_attention_is_replaced_by_plain_ops(report: dict[str, Any]) -> None:
    assert report["rewritten"] == 1
    ops = report["ops"]
    assert "MultiHeadAttention" not in ops
    assert {"FusedMatMul", "Softmax", "MatMul", "Transpose"} <= set(ops)


def test_plain_attention_gives_the_fused_kernels_bits(report: dict[str, Any]) -> None:
    assert report["vs_mha"] == 0.0


def test_a_sequence_alone_matches_it_inside_a_padded_batch(report: dict[str, Any]) -> None:
    assert report["alone_vs_batched"] == 0.0
