"""Texts per second of several encoders on the same texts, measured fairly on a busy machine.

Each encoder sorts its texts by length before padding (handler.embedder does; so does
sentence-transformers' encode). The encoders take turns, round after round, so a burst of load
from another process hits all of them alike, and each figure is the median of its rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

Encode = Callable[[Sequence[str]], Any]


def time_once(encode: Encode, texts: Sequence[str]) -> float:
    started = time.perf_counter()
    encode(texts)
    return time.perf_counter() - started


def compare_texts_per_second(
    encoders: dict[str, Encode], texts: Sequence[str], rounds: int = 3, warmup: int = 64
) -> dict[str, float]:
    """Median texts/s of each encoder over `rounds` interleaved passes over all of `texts`."""
    for encode in encoders.values():
        encode(texts[:warmup])
    seconds: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(rounds):
        for name, encode in encoders.items():
            seconds[name].append(time_once(encode, texts))
    return {name: len(texts) / statistics.median(values) for name, values in seconds.items()}
