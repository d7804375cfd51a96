"""SmoothQuant's calibration statistics: max |x| per channel of a graph's activations.

A few hidden channels of a BERT carry values tens of times larger than the rest, so a token
row's one int8 scale leaves most channels a handful of levels. model_artifacts/rowwise.smooth
moves those outliers into the weights using the maxima measured here on the calibration corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper

from handler.embedder import make_session
from model_artifacts.embed import SESSION_LEVELS, length_sorted_batches, pad_batch

Array = NDArray[np.float32]


def channel_amax(
    model_path: Path,
    tensors: Sequence[str],
    encodings: Sequence[object],
    pad_id: int,
    batch_size: int = 16,
) -> dict[str, Array]:
    """max |x| per last-axis channel of each tensor, over the real (unpadded) tokens."""
    model = onnx.load(str(model_path))
    known = {o.name for o in model.graph.output}
    for name in tensors:
        if name not in known:
            model.graph.output.append(
                helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
            )
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
