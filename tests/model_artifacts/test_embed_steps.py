"""Length-sorted batching and padding, the build's steps between tokenizer and model.

Pooling and normalisation are handler.embedder's, tested in tests/handler/test_pooling.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from model_artifacts.embed import length_sorted_batches, pad_batch
from tests.model_artifacts.st_dirs import tokenizer_json

pytestmark = pytest.mark.unit

HIDDEN = np.array(
    [[[1.0, 2.0], [3.0, -4.0], [100.0, 100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]],
    dtype=np.float32,
)
MASK = np.array([[1, 1, 0], [1, 1, 1]])


@pytest.fixture
def tokenizer() -> Tokenizer:
    import json

    return Tokenizer.from_str(json.dumps(tokenizer_json()))


def test_batches_group_similar_lengths(tokenizer: Tokenizer) -> None:
    texts = ["the", "the cat sat the cat sat", "cat", "the cat sat", "sat the", "the cat"]
    encodings = tokenizer.encode_batch(texts)
    batches = length_sorted_batches(encodings, batch_size=2)
    assert sorted(i for batch in batches for i in batch) == list(range(6))
    lengths = [[len(encodings[i].ids) for i in batch] for batch in batches]
    assert lengths == sorted(lengths, reverse=True)
    assert lengths[0] == [8, 5]  # the two longest together


def test_pad_batch_pads_to_the_longest_with_mask(tokenizer: Tokenizer) -> None:
    feed = pad_batch(tokenizer.encode_batch(["the cat sat", "cat"]), pad_id=0)
    np.testing.assert_array_equal(feed["input_ids"], [[2, 5, 6, 7, 3], [2, 6, 3, 0, 0]])
    np.testing.assert_array_equal(feed["attention_mask"], [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert feed["token_type_ids"].shape == (2, 5) and not feed["token_type_ids"].any()
