"""The built artifact through handler.embedder, the loop the service runs (no torch here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from handler.artifact import Manifest, load_manifest
from handler.embedder import Embedder, load_embedder

pytestmark = pytest.mark.integration

SENTENCES = [
    "The cat sat on the mat.",
    "A cat was sitting on the rug.",
    "Quarterly revenue rose by twelve percent.",
    "Income for the quarter grew 12%.",
    "x",
]


@pytest.fixture(scope="module")
def manifest(model_dir: Path) -> Manifest:
    return load_manifest(model_dir, verify=True)


@pytest.fixture(scope="module")
def embedder(model_dir: Path) -> Embedder:
    return load_embedder(model_dir, threads=2)


def test_graph_matches_the_manifest(embedder: Embedder, manifest: Manifest) -> None:
    assert tuple(i.name for i in embedder.session.get_inputs()) == manifest.onnx_inputs
    assert manifest.onnx_output in [o.name for o in embedder.session.get_outputs()]


def test_unit_vectors_of_the_manifest_dimensions(embedder: Embedder, manifest: Manifest) -> None:
    vectors = embedder.embed(SENTENCES).vectors
    assert vectors.shape == (len(SENTENCES), manifest.dimensions)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_nearest(embedder: Embedder) -> None:
    v = embedder.embed(SENTENCES[:4]).vectors
    sims = v @ v.T
    assert sims[0, 1] > max(sims[0, 2], sims[0, 3]) + 0.2
    assert sims[2, 3] > max(sims[2, 0], sims[2, 1]) + 0.2


def test_batching_leaves_a_vector_bit_identical(model_dir: Path) -> None:
    # Row-local int8 and per-sequence attention: batch-mates and padding change nothing.
    embedder = load_embedder(model_dir, threads=2, batch_size=len(SENTENCES))
    alone = embedder.embed(["x"]).vectors[0]
    batched = embedder.embed(SENTENCES).vectors[-1]  # padded to the longest
    np.testing.assert_array_equal(alone, batched)


def test_shipped_tokenizer_truncates_at_max_input_tokens(
    model_dir: Path, manifest: Manifest, embedder: Embedder
) -> None:
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    long_text = "word " * (manifest.max_input_tokens * 3)
    encoding = tokenizer.encode(long_text)
    assert len(encoding.ids) == manifest.max_input_tokens
    assert encoding.ids[0] == manifest.special_tokens["cls_token_id"]
    assert encoding.ids[-1] == manifest.special_tokens["sep_token_id"]
    assert tokenizer.padding is None
    vector = embedder.embed([long_text], long_inputs="truncate").vectors[0]
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_graph_takes_any_batch_and_length(embedder: Embedder, manifest: Manifest) -> None:
    for batch, length in ((1, 3), (7, 40), (2, manifest.max_input_tokens)):
        ids = np.full((batch, length), 1000, dtype=np.int64)
        ids[:, 0], ids[:, -1] = 101, 102
        feed = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        (hidden,) = embedder.session.run([manifest.onnx_output], feed)
        assert hidden.shape == (batch, length, manifest.dimensions)
