"""Functional: compact encodings through the app (sync route, usage, /v1/models, refusals)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
from fastapi import FastAPI
from handler_support import ALIAS, ListRecorder
from starlette.testclient import TestClient

from handler.embedder import Embedder, truncate_dimensions
from handler.encodings import ENCODINGS, Int8Calibration, encoding
from handler.factory import create_app
from handler.settings import Settings

pytestmark = pytest.mark.functional
URL = "/v1/embeddings"
TEXTS = ["a cat sat on the mat", "stock prices fell sharply", "Hi"]


@pytest.fixture(scope="module")
def calibration(embedder: Embedder) -> Int8Calibration:
    found = Int8Calibration.from_manifest(embedder.manifest.extra, embedder.dimensions)
    if found is None:
        pytest.fail("the artifact has no encodings.int8 scale: rebuild it with `make model`")
    return found


@pytest.mark.parametrize("name", list(ENCODINGS))
@pytest.mark.parametrize("dimensions", [None, 64])
def test_each_encoding_returns_the_served_vectors_encoded(
    client: TestClient,
    embedder: Embedder,
    calibration: Int8Calibration,
    name: str,
    dimensions: int | None,
) -> None:
    body = {"input": TEXTS, "model": ALIAS, "encoding_format": name, "dimensions": dimensions}
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.text
    width = dimensions or embedder.dimensions
    vectors = truncate_dimensions(embedder.embed(TEXTS).vectors, width)
    expected = encoding(name).encode(vectors, calibration)
    got = [d["embedding"] for d in response.json()["data"]]
    if encoding(name).base64:
        assert got == expected
    else:
        np.testing.assert_array_equal(np.array(got, encoding(name).dtype), np.array(expected))


def test_usage_records_the_encoding(
    make_app: Callable[..., FastAPI], recorder: ListRecorder, calibration: Int8Calibration
) -> None:
    with TestClient(make_app(recorder)) as client:
        for name in ("int8", "ubinary"):
            assert client.post(URL, json={"input": "x", "model": ALIAS, "encoding_format": name})
    assert [r.encoding_format for r in recorder.records] == ["int8", "ubinary"]


def test_binary_needs_a_multiple_of_8_dimensions(client: TestClient, embedder: Embedder) -> None:
    response = client.post(
        URL, json={"input": "x", "model": ALIAS, "encoding_format": "binary", "dimensions": 100}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "dimensions"
    assert error["message"] == (
        "encoding_format 'binary' packs 8 dimensions a byte: dimensions must be a multiple "
        "of 8; got 100."
    )
    ok = client.post(
        URL, json={"input": "x", "model": ALIAS, "encoding_format": "ubinary", "dimensions": 96}
    )
    assert len(ok.json()["data"][0]["embedding"]) == 12


def test_int8_is_refused_for_an_artifact_without_a_scale(
    base_settings: Settings, embedder: Embedder
) -> None:
    """An artifact built before the int8 calibration: the same session, its manifest without
    the encodings section."""
    extra = {k: v for k, v in embedder.manifest.extra.items() if k != "encodings"}
    old = Embedder(
        dataclasses.replace(embedder.manifest, extra=extra), embedder.tokenizer, embedder.session
    )
    with TestClient(create_app(base_settings, old)) as client:
        refused = client.post(URL, json={"input": "x", "model": ALIAS, "encoding_format": "uint8"})
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "encoding_format"
        assert "no calibrated int8 scale" in refused.json()["error"]["message"]
        assert client.post(URL, json={"input": "x", "model": ALIAS, "encoding_format": "binary"})
        described = client.get(f"/v1/models/{ALIAS}").json()["encodings"]
        assert described == {"encoding_formats": ["float", "base64", "binary", "ubinary"]}


def test_the_model_shows_its_int8_scale(
    client: TestClient, embedder: Embedder, calibration: Int8Calibration
) -> None:
    model = client.get(f"/v1/models/{embedder.model_id}").json()
    assert model["encodings"]["encoding_formats"] == list(ENCODINGS)
    assert model["encodings"]["int8"]["scale"] == calibration.scale
    assert (
        model["encodings"]["int8"]["scale"] == embedder.manifest.extra["encodings"]["int8"]["scale"]
    )


def test_a_2048_input_binary_response_is_sent_without_gzip(client: TestClient) -> None:
    inputs = [f"item {i}" for i in range(2048)]
    response = client.post(
        URL,
        json={"input": inputs, "model": ALIAS, "encoding_format": "binary"},
        headers={"accept-encoding": "identity"},
    )
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert len(response.content) < 1_000_000  # a float response of this is ~8 MB
    assert [d["index"] for d in response.json()["data"]] == list(range(2048))
