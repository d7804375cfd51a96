"""Export the Transformer module of a sentence-transformers directory to fp32 ONNX (needs torch).

The graph takes input_ids, attention_mask and token_type_ids with dynamic batch and sequence
axes and returns only the per-token hidden states; pooling and normalisation stay in numpy so
the service can apply the manifest's settings to any model.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the source is local
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModel  # noqa: E402

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"
OPSET = 17


class _HiddenStates(torch.nn.Module):  # type: ignore[misc]  # torch is untyped in the service venv
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )
        return out.last_hidden_state


def export_fp32(source: Path, target: Path) -> None:
    """Write `target` (fp32 ONNX, weights inline) from the model in `source`."""
    torch.manual_seed(0)
    model = AutoModel.from_pretrained(str(source), attn_implementation="eager")
    model.eval()
    wrapper = _HiddenStates(model)
    dummy = {
        "input_ids": torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64),
        "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.int64),
        "token_type_ids": torch.zeros((2, 4), dtype=torch.int64),
    }
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, OUTPUT)}
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]),
            str(target),
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
