"""Embed texts with an ONNX model the way the service does: tokenize, sort, pad, run, pool.

Torch-free (numpy, onnxruntime, tokenizers), so the build's fidelity and speed checks, the
benchmarks and the tests all share it. Batches are formed after sorting by token count:
padding a short sentence to a long neighbour's length costs several times the compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

# The service's own pooling and normalisation, so the build measures what it serves.
from handler.embedder import l2_normalize, pool

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


class OnnxEmbedder:
    """Sentence embeddings from an ONNX graph whose output is per-token hidden states."""

    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        pooling: str,
        normalize: bool,
        pad_id: int,
        output: str = "last_hidden_state",
    ) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.pad_id = pad_id
        self.output = output
        self.inputs = [i.name for i in session.get_inputs()]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        out: np.ndarray | None = None
        for batch in length_sorted_batches(encodings, batch_size):
            feed = pad_batch([encodings[i] for i in batch], self.pad_id)
            (hidden,) = self.session.run([self.output], {name: feed[name] for name in self.inputs})
            pooled = pool(hidden, feed["attention_mask"], self.pooling)
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[batch] = pooled
        assert out is not None, "no texts"
        return l2_normalize(out) if self.normalize else out
