"""The batch-invariance gate: a text's vector must not depend on what it is embedded with.

Each text is embedded alone (batch of one, no padding, one thread) as the reference. Then the
corpus is cut into random requests of random sizes, so texts meet random batch-mates and are
padded to different widths, and embedded through the same `Embedder.embed` the function runs,
with one and with two threads. The gate is the largest per-component difference from the
reference, over every text and every arrangement.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from handler.embedder import Embedder

MAX_ABS_DIFF = 1e-6  # per component, float32 unit vectors
REQUEST_SIZES = (1, 3, 17, 64, 256)  # random requests draw their size from these


@dataclass(frozen=True)
class Invariance:
    max_abs_diff: float  # worst component over every text and arrangement
    identical_share: float  # share of (text, arrangement) pairs that are bit-identical
    arrangements: int  # random request layouts tried per thread count
    threads: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    texts: int

    def failures(self) -> list[str]:
        if self.max_abs_diff > MAX_ABS_DIFF:
            return [f"batch invariance max |diff| {self.max_abs_diff:.3g} > {MAX_ABS_DIFF:g}"]
        return []

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["gate_max_abs_diff"] = MAX_ABS_DIFF
        return out


def random_requests(n: int, rng: random.Random) -> list[list[int]]:
    """Indices 0..n-1 shuffled and cut into requests whose sizes are drawn from REQUEST_SIZES."""
    order = list(range(n))
    rng.shuffle(order)
    requests = []
    while order:
        size = rng.choice(REQUEST_SIZES)
        requests.append(order[:size])
        order = order[size:]
    return requests


def embed_alone(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    return np.stack([embedder.embed([text]).vectors[0] for text in texts])


def embed_arranged(
    embedder: Embedder, texts: Sequence[str], requests: list[list[int]]
) -> np.ndarray:
    out = np.empty((len(texts), embedder.dimensions), dtype=np.float32)
    for request in requests:
        out[request] = embedder.embed([texts[i] for i in request]).vectors
    return out


def measure_invariance(
    load: Callable[[int, int], Embedder],
    texts: Sequence[str],
    arrangements: int = 1,
    threads: tuple[int, ...] = (1, 2),
    batch_sizes: tuple[int, ...] = (32, 7),
    seed: int = 0,
) -> Invariance:
    """`load(threads, batch_size)` gives an Embedder over the artifact under test."""
    rng = random.Random(seed)
    reference = embed_alone(load(1, 1), texts)
    worst, same, pairs = 0.0, 0, 0
    for thread_count in threads:
        for batch_size in batch_sizes:
            embedder = load(thread_count, batch_size)
            for _ in range(arrangements):
                got = embed_arranged(embedder, texts, random_requests(len(texts), rng))
                diff = np.abs(got - reference).max(axis=1)
                worst = max(worst, float(diff.max()))
                same += int((diff == 0).sum())
                pairs += len(texts)
    return Invariance(
        max_abs_diff=worst,
        identical_share=round(same / pairs, 6),
        arrangements=arrangements,
        threads=threads,
        batch_sizes=batch_sizes,
        texts=len(texts),
    )
