"""Integration: compact encodings through real clients against uvicorn on 127.0.0.1.

openai-python passes a raw `encoding_format` through (its type says float or base64, and it
decodes only the base64 it asked for), or takes one in `extra_body`; httpx posts the JSON.
The int8 round trip (dequantised with the scale GET /v1/models/{id} publishes) stays within
the documented error: 0.5 / scale a component, more only where a component was clipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from handler_support import ALIAS, LiveServer

from handler.embedder import Embedder
from handler.encodings import ENCODINGS, INT8_MAX, Int8Calibration, encoding

pytestmark = pytest.mark.integration
API_KEY = "sk-local-dev"
TEXTS = ["Serverless embeddings in your own AWS account", "A man is riding a horse.", "Hi"]
COMPACT = [name for name, e in ENCODINGS.items() if not e.base64 and name != "float"]


@pytest.fixture(scope="module")
def sdk(live_server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=live_server.base_url, api_key=API_KEY, max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=live_server.base_url, headers=headers) as client:
        yield client


def served(embedder: Embedder, name: str) -> np.ndarray:
    calibration = Int8Calibration.from_manifest(embedder.manifest.extra, embedder.dimensions)
    return np.array(encoding(name).encode(embedder.embed(TEXTS).vectors, calibration))


@pytest.mark.parametrize("name", COMPACT)
def test_openai_raw_encoding_format(sdk: openai.OpenAI, embedder: Embedder, name: str) -> None:
    result = sdk.embeddings.create(model=ALIAS, input=TEXTS, encoding_format=name)  # type: ignore[arg-type]
    got = np.array([d.embedding for d in result.data])
    np.testing.assert_array_equal(got, served(embedder, name))
    # its model types `embedding` as list[float]: the integers arrive as whole floats
    assert all(float(v).is_integer() for v in result.data[0].embedding)


@pytest.mark.parametrize("name", COMPACT)
def test_openai_extra_body(sdk: openai.OpenAI, embedder: Embedder, name: str) -> None:
    result = sdk.embeddings.create(
        model=ALIAS, input=TEXTS, extra_body={"encoding_format": name}
    )  # the SDK asks for base64, extra_body overrides it, and it leaves integer lists alone
    np.testing.assert_array_equal(
        np.array([d.embedding for d in result.data]), served(embedder, name)
    )


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_httpx_every_encoding(http: httpx.Client, embedder: Embedder, name: str) -> None:
    response = http.post(
        "/embeddings", json={"model": ALIAS, "input": TEXTS, "encoding_format": name}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    got = [d["embedding"] for d in body["data"]]
    expected = served(embedder, name)
    if encoding(name).base64:
        assert got == expected.tolist()
    else:
        np.testing.assert_array_equal(np.array(got, encoding(name).dtype), expected)


def test_int8_dequantises_within_the_documented_error(
    http: httpx.Client, sdk: openai.OpenAI, embedder: Embedder
) -> None:
    scale = http.get(f"/models/{ALIAS}").json()["encodings"]["int8"]["scale"]
    floats = np.array([d.embedding for d in sdk.embeddings.create(model=ALIAS, input=TEXTS).data])
    for name, offset in (("int8", 0), ("uint8", 128)):
        result = sdk.embeddings.create(
            model=ALIAS, input=TEXTS, extra_body={"encoding_format": name}
        )
        values = np.array([d.embedding for d in result.data], dtype=np.float64)
        dequantised = (values - offset) / scale
        bound = np.maximum(0.5 / scale, np.abs(floats) - INT8_MAX / scale) + 1e-9
        assert (np.abs(dequantised - floats) <= bound).all()
        cosines = np.sum(dequantised * floats, axis=1) / np.linalg.norm(dequantised, axis=1)
        # a one-word input can have a component past 127 / scale ("Hi": 0.286), clipped
        assert cosines.min() > 0.995
