"""How `handler.embedder.batches` cuts a length-sorted request into model runs."""

from __future__ import annotations

import pytest

from handler.embedder import batches

pytestmark = pytest.mark.unit


def test_runs_stay_within_the_padded_token_budget() -> None:
    lengths = [4, 5, 6, 10, 10, 30, 60, 200]
    runs = batches(list(range(len(lengths))), lengths, batch_size=32, batch_tokens=64)
    # every index once, in the given order
    assert [i for run in runs for i in run] == list(range(len(lengths)))
    for run in runs:
        padded = len(run) * max(lengths[i] for i in run)
        assert padded <= 64 or len(run) == 1  # a text over the budget runs alone
    assert runs == [[0, 1, 2, 3, 4], [5], [6], [7]]


def test_batch_size_caps_short_texts() -> None:
    lengths = [3] * 10
    runs = batches(list(range(10)), lengths, batch_size=4, batch_tokens=1000)
    assert runs == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_no_budget_is_plain_batch_size() -> None:
    lengths = [100] * 5
    assert batches(list(range(5)), lengths, batch_size=2, batch_tokens=None) == [
        [0, 1],
        [2, 3],
        [4],
    ]


def test_empty_request_has_no_runs() -> None:
    assert batches([], [], batch_size=32, batch_tokens=256) == []


def test_exact_lengths_never_pad_a_run() -> None:
    lengths = [4, 4, 4, 5, 7, 7, 30]
    runs = batches(list(range(7)), lengths, batch_size=2, batch_tokens=256, exact_lengths=True)
    assert runs == [[0, 1], [2], [3], [4, 5], [6]]
    assert all(len({lengths[i] for i in run}) == 1 for run in runs)
