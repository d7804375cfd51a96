"""Unit: response bodies (float and base64), gzip, and the Lambda 6 MB arithmetic."""

from __future__ import annotations

import base64
import gzip

import numpy as np
import orjson
import pytest

from handler.embedding_response import (
    accepts_gzip,
    embeddings_body,
    fit_response,
    lambda_payload_size,
)
from handler.errors import APIError

pytestmark = pytest.mark.unit


@pytest.fixture
def vectors() -> np.ndarray:
    rng = np.random.default_rng(7)
    raw = rng.standard_normal((5, 384)).astype(np.float32)
    normalized: np.ndarray = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    return normalized


def test_float_body_has_openai_shape(vectors: np.ndarray) -> None:
    body = orjson.loads(embeddings_body(vectors, "m", 17, "float"))
    assert list(body) == ["object", "data", "model", "usage"]
    assert body["object"] == "list"
    assert body["model"] == "m"
    assert body["usage"] == {"prompt_tokens": 17, "total_tokens": 17}
    assert [item["index"] for item in body["data"]] == [0, 1, 2, 3, 4]
    assert {item["object"] for item in body["data"]} == {"embedding"}
    returned = np.array([d["embedding"] for d in body["data"]], np.float32)
    np.testing.assert_array_equal(returned, vectors)


def test_base64_is_little_endian_float32_with_padding(vectors: np.ndarray) -> None:
    odd = np.ascontiguousarray(vectors[:, :7])  # 28 bytes: base64 needs padding
    body = orjson.loads(embeddings_body(odd, "m", 1, "base64"))
    for row, item in zip(odd, body["data"], strict=True):
        encoded = item["embedding"]
        assert encoded.endswith("=")
        np.testing.assert_array_equal(np.frombuffer(base64.b64decode(encoded), "<f4"), row)


def test_base64_and_float_agree(vectors: np.ndarray) -> None:
    floats = orjson.loads(embeddings_body(vectors, "m", 1, "float"))["data"]
    b64 = orjson.loads(embeddings_body(vectors, "m", 1, "base64"))["data"]
    for f, b in zip(floats, b64, strict=True):
        decoded = np.frombuffer(base64.b64decode(b["embedding"]), "<f4")
        np.testing.assert_array_equal(decoded, np.array(f["embedding"], np.float32))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br", True),
        ("br, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("deflate", False),
        ("", False),
        ("identity", False),
    ],
)
def test_accepts_gzip(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_payload_size_counts_base64_and_json_escapes() -> None:
    assert lambda_payload_size(b"abc", binary=True) == 4
    assert lambda_payload_size(b"abcd", binary=True) == 8
    assert lambda_payload_size(b'{"a":"\\n"}', binary=False) == 10 + 4 + 1


def test_fit_response_gzips_when_accepted(vectors: np.ndarray) -> None:
    body = embeddings_body(vectors, "m", 1, "float")
    sent, headers = fit_response(body, "gzip", limit=10_000_000)
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(sent) == body
    plain, plain_headers = fit_response(body, "", limit=10_000_000)
    assert plain == body
    assert plain_headers == {}


def test_fit_response_leaves_incompressible_bodies_alone(vectors: np.ndarray) -> None:
    body = embeddings_body(vectors, "m", 1, "base64")
    sent, headers = fit_response(body, "gzip", limit=10_000_000, encoding_format="base64")
    assert (sent, headers) == (body, {})


def test_fit_response_413_when_even_gzip_is_too_big(vectors: np.ndarray) -> None:
    body = embeddings_body(vectors, "m", 1, "float")
    with pytest.raises(APIError) as caught:
        fit_response(body, "gzip", limit=100)
    assert caught.value.status == 413
    assert caught.value.code == "response_too_large"
    assert "base64" in caught.value.message


def test_a_full_float_batch_needs_gzip_to_fit_lambda() -> None:
    # 2048 x 384 floats is ~8.6 MB of JSON: over Lambda's 6 MB, under it once gzipped.
    rng = np.random.default_rng(0)
    raw = rng.standard_normal((2048, 384)).astype(np.float32)
    vectors = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    body = embeddings_body(vectors, "m", 1, "float")
    limit = 6_291_556 - 16_384
    with pytest.raises(APIError):
        fit_response(body, "", limit)
    sent, _ = fit_response(body, "gzip", limit)
    assert lambda_payload_size(sent, binary=True) <= limit
