"""A text's vector does not depend on what it is embedded with (the artifact's recipe promise).

Functional: the embedder alone versus inside mixed requests, other batch sizes and thread
counts. Integration: the same through the HTTP API with the real openai client, whose default
base64 vectors must be byte-identical whether a text is sent alone or inside a request.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from starlette.testclient import TestClient

from handler.embedder import Embedder, load_embedder
from model_artifacts.inputs import HELDOUT, read_lines
from tests.handler.handler_support import ALIAS, LiveServer

TEXTS = [
    "Hi",
    "A man is eating food.",
    "The new movie is awesome",
    "A man is riding a white horse on an enclosed ground, next to a fence, on a sunny day.",
    "Le chat dort sur le canapé.",
]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return random.Random(9).sample(read_lines(HELDOUT), 120)


@pytest.fixture(scope="module")
def alone(embedder: Embedder, corpus: list[str]) -> np.ndarray:
    return np.stack([embedder.embed([text]).vectors[0] for text in corpus])


@pytest.mark.functional
def test_manifest_says_the_artifact_is_batch_invariant(embedder: Embedder) -> None:
    assert embedder.batch_invariant
    assert embedder.manifest.extra["invariance"]["max_abs_diff"] <= 1e-6


@pytest.mark.functional
def test_short_texts_together_equal_one_by_one(embedder: Embedder) -> None:
    together = embedder.embed(TEXTS).vectors
    one_by_one = np.stack([embedder.embed([text]).vectors[0] for text in TEXTS])
    assert np.abs(together - one_by_one).max() <= 1e-6


@pytest.mark.functional
@pytest.mark.parametrize(
    ("threads", "batch_size", "exact_lengths"),
    [(2, 32, False), (1, 32, False), (2, 5, False), (1, 64, False), (2, 32, True)],
)
def test_mixed_requests_match_each_text_alone(
    model_dir: Path,
    corpus: list[str],
    alone: np.ndarray,
    threads: int,
    batch_size: int,
    exact_lengths: bool,
) -> None:
    # GIVEN the corpus shuffled into requests of random sizes (random batch-mates and padding;
    # exact_lengths: the runs arm64 uses, texts of one length each, never padded)
    embedder = load_embedder(
        model_dir,
        threads=threads,
        batch_size=batch_size,
        verify=False,
        exact_lengths=exact_lengths,
    )
    rng = random.Random(threads * 100 + batch_size + exact_lengths)
    order = list(range(len(corpus)))
    rng.shuffle(order)
    got = np.empty_like(alone)
    while order:
        size = rng.choice((2, 9, 40))
        request, order = order[:size], order[size:]
        got[request] = embedder.embed([corpus[i] for i in request]).vectors
    # THEN every text's vector is the one it gets alone, to the gate's 1e-6
    assert np.abs(got - alone).max() <= 1e-6


@pytest.fixture(scope="module")
def sdk(live_server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=live_server.base_url, api_key="sk-local-dev", max_retries=0) as sdk:
        yield sdk


def base64_vectors(client: openai.OpenAI, texts: list[str]) -> list[str]:
    # with_raw_response keeps the wire's base64 strings (the SDK would decode them to floats)
    raw = client.embeddings.with_raw_response.create(
        model=ALIAS, input=texts, encoding_format="base64"
    )
    return [item["embedding"] for item in raw.http_response.json()["data"]]


@pytest.mark.integration
def test_http_base64_alone_equals_inside_a_request(sdk: openai.OpenAI, corpus: list[str]) -> None:
    request = corpus[:40] + TEXTS
    inside = base64_vectors(sdk, request)
    for position in (0, 7, 39, 40, 44):
        assert base64_vectors(sdk, [request[position]]) == [inside[position]]


@pytest.mark.functional
def test_health_says_batch_invariant(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["batch_invariant"] is True
