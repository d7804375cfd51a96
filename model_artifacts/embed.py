"""Tokenizer and feed helpers shared by the build steps (torch-free).

Embedding itself goes through `handler.embedder.Embedder`, the function's own loop, so the
build's gate, the benchmarks and the service measure the same code. What is left here serves
calibration (smooth.channel_amax) and the shipped tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

SESSION_LEVELS = {
    "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def load_tokenizer(path: Path | str, max_length: int) -> Tokenizer:
    """The model's fast tokenizer, truncating to max_length tokens, not padding."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    return tokenizer


def length_sorted_batches(encodings: Sequence[Encoding], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar token count, longest first."""
    order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(encodings: Sequence[Encoding], pad_id: int) -> dict[str, np.ndarray]:
    width = max(len(e.ids) for e in encodings)
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
        types[row, :n] = encoding.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
