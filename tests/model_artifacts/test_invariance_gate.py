"""The batch-invariance gate's arithmetic and its random request layouts."""

from __future__ import annotations

import random

import pytest

from model_artifacts.invariance import MAX_ABS_DIFF, REQUEST_SIZES, Invariance, random_requests

pytestmark = pytest.mark.unit


def figures(diff: float) -> Invariance:
    return Invariance(
        max_abs_diff=diff,
        identical_share=1.0,
        arrangements=2,
        threads=(1, 2),
        batch_sizes=(32, 7),
        texts=1200,
    )


def test_gate_is_one_millionth_per_component_inclusive() -> None:
    assert MAX_ABS_DIFF == 1e-6
    assert figures(0.0).failures() == []
    assert figures(1e-6).failures() == []
    assert figures(1.1e-6).failures() == ["batch invariance max |diff| 1.1e-06 > 1e-06"]


def test_as_dict_records_the_gate() -> None:
    recorded = figures(0.0).as_dict()
    assert recorded["gate_max_abs_diff"] == 1e-6
    assert recorded["threads"] == (1, 2)


def test_random_requests_cover_every_text_once_with_mixed_sizes() -> None:
    requests = random_requests(1200, random.Random(3))
    flat = [i for request in requests for i in request]
    assert sorted(flat) == list(range(1200))
    assert {len(r) for r in requests[:-1]} <= set(REQUEST_SIZES)
    assert len({len(r) for r in requests}) >= 3  # texts meet batches of several sizes
    assert flat != list(range(1200))  # shuffled: batch-mates are random
