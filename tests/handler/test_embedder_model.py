"""Functional: the embedder on the real artifact (MODEL_DIR)."""

from __future__ import annotations

import numpy as np
import pytest

from handler.embedder import (
    Embedder,
    EmptyInputError,
    InputTooLongError,
    TokenIdError,
)

pytestmark = pytest.mark.functional
TEXTS = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground, next to a fence, on a sunny day.",
    "Hi",
    "The new movie is awesome",
    "Le chat dort sur le canapé.",
]


def test_vectors_are_unit_norm_in_input_order(embedder: Embedder) -> None:
    batch = embedder.embed(TEXTS)
    assert batch.vectors.shape == (len(TEXTS), embedder.dimensions)
    assert batch.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch.vectors, axis=1), 1.0, rtol=1e-5)
    order = [3, 0, 4, 2, 1]  # same batch, other order: sorting and restoring must undo it
    shuffled = embedder.embed([TEXTS[i] for i in order]).vectors
    cosines = np.sum(shuffled * batch.vectors[order], axis=1)
    assert cosines.min() >= 0.9999


def test_batch_mates_do_not_move_a_vector(embedder: Embedder) -> None:
    # Row-local int8 (one scale per token row) and per-sequence attention and pooling: a text's
    # vector is the same bits alone or batched (tests/handler/test_invariance.py goes further).
    batch = embedder.embed(TEXTS).vectors
    alone = np.stack([embedder.embed([text]).vectors[0] for text in TEXTS])
    np.testing.assert_array_equal(batch, alone)


def test_token_counts_come_from_the_tokenizer(embedder: Embedder) -> None:
    batch = embedder.embed(TEXTS)
    expected = [len(e.ids) for e in embedder.tokenizer.encode_batch(TEXTS)]
    assert batch.token_counts == expected
    assert batch.total_tokens == sum(expected)


def test_token_ids_embed_like_the_text(embedder: Embedder) -> None:
    text = TEXTS[1]
    with_specials = embedder.tokenizer.encode(text).ids
    without = embedder.tokenizer.encode(text, add_special_tokens=False).ids
    from_text = embedder.embed([text]).vectors[0]
    for ids in (with_specials, without):
        result = embedder.embed([ids])
        assert float(result.vectors[0] @ from_text) > 0.9999
        assert result.token_counts == [len(with_specials)]


def test_out_of_vocabulary_ids(embedder: Embedder) -> None:
    vocab = embedder.manifest.vocab_size
    with pytest.raises(TokenIdError) as caught:
        embedder.embed([[5, 6], [7, vocab]])
    assert (caught.value.index, caught.value.token_id) == (1, vocab)


def test_over_long_input_is_refused_or_truncated(embedder: Embedder) -> None:
    limit = embedder.max_input_tokens
    long_text = "word " * (limit + 50)
    with pytest.raises(InputTooLongError) as caught:
        embedder.embed(["short", long_text])
    assert caught.value.index == 1
    assert caught.value.limit == limit
    assert caught.value.tokens > limit
    result = embedder.embed(["short", long_text], long_inputs="truncate")
    assert result.truncated == 1
    assert result.token_counts[1] == limit
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-5)


def test_empty_inputs_are_refused(embedder: Embedder) -> None:
    with pytest.raises(EmptyInputError):
        embedder.embed(["a", ""])
    with pytest.raises(EmptyInputError):
        embedder.embed([[1], []])


def test_similar_sentences_are_closer(embedder: Embedder) -> None:
    vectors = embedder.embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell."]
    ).vectors
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.2
