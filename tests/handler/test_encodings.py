"""Unit: the encoding table (handler/encodings.py): each entry's values, sizes and packing."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest

from handler.embedding_response import (
    embeddings_body,
    lambda_payload_size,
    least_payload_size,
)
from handler.encodings import ENCODINGS, INT8_MAX, Int8Calibration, described, encoding

pytestmark = pytest.mark.unit
CALIBRATION = Int8Calibration(scale=590.0, dimensions=384)


def unit_rows(count: int, width: int, seed: int = 3) -> np.ndarray:
    raw = np.random.default_rng(seed).standard_normal((count, width)).astype(np.float32)
    rows: np.ndarray = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    return rows


def decoded(name: str, vectors: np.ndarray) -> np.ndarray:
    """The values a client reads back from the JSON body (base64 decoded as its dtype)."""
    entry = encoding(name)
    data = orjson.loads(embeddings_body(vectors, "m", 1, name, CALIBRATION))["data"]
    if entry.base64:
        return np.stack(
            [np.frombuffer(base64.b64decode(d["embedding"]), entry.dtype) for d in data]
        )
    return np.array([d["embedding"] for d in data])


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_each_entry_sizes_match_what_it_writes(name: str) -> None:
    entry = encoding(name)
    values = decoded(name, unit_rows(3, 384))
    assert values.shape == (3, entry.values_per_vector(384))
    info = np.iinfo(entry.dtype) if np.dtype(entry.dtype).kind in "iu" else None
    if info is not None:
        assert values.min() >= info.min and values.max() <= info.max
    assert entry.bytes_per_vector(384) == values.shape[1] * np.dtype(entry.dtype).itemsize


def test_bytes_per_vector_of_the_compact_encodings() -> None:
    sizes = {name: e.bytes_per_vector(384) for name, e in ENCODINGS.items()}
    assert sizes == {
        "float": 1536,
        "base64": 1536,
        "int8": 384,
        "uint8": 384,
        "binary": 48,
        "ubinary": 48,
    }


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_each_vector_is_encoded_alone(name: str) -> None:
    """Batch invariance: a vector's encoding does not depend on its batch-mates."""
    vectors = unit_rows(9, 384)
    together = decoded(name, vectors)
    for row in range(len(vectors)):
        np.testing.assert_array_equal(decoded(name, vectors[row : row + 1])[0], together[row])


def test_int8_round_trip_is_within_the_documented_error() -> None:
    vectors = unit_rows(50, 384)
    vectors[0, 0] = 0.4  # past 127 / scale: clipped
    q = decoded("int8", vectors)
    scale = CALIBRATION.scale
    np.testing.assert_array_equal(
        q, np.clip(np.rint(vectors.astype(np.float64) * scale), -127, 127)
    )
    error = np.abs(vectors - q / scale)
    bound = np.maximum(0.5 / scale, np.abs(vectors) - INT8_MAX / scale) + 1e-9
    assert (error <= bound).all()
    assert q[0, 0] == INT8_MAX
    np.testing.assert_array_equal(decoded("uint8", vectors), q + 128)


def test_int8_scale_follows_dimensions() -> None:
    assert CALIBRATION.scale_at(384) == 590.0
    assert CALIBRATION.scale_at(96) == pytest.approx(590.0 * 0.5)
    narrow = unit_rows(4, 96)
    q = decoded("int8", narrow)
    np.testing.assert_array_equal(q, np.clip(np.rint(narrow.astype(np.float64) * 295.0), -127, 127))


def test_int8_dot_products_rank_like_float() -> None:
    """One global scale: raw integer dot products keep float's order (this data has no ties
    closer than the rounding)."""
    vectors = unit_rows(40, 384)
    q = decoded("int8", vectors).astype(np.int64)
    float_order = np.argsort(-(vectors[1:] @ vectors[0]))[:5]
    int_order = np.argsort(-(q[1:] @ q[0]))[:5]
    np.testing.assert_array_equal(float_order, int_order)


def test_binary_is_coheres_packing() -> None:
    """Sign bits, first dimension in the high bit; binary = ubinary - 128."""
    signs = np.array([1, -1, 1, -1, 1, -1, 1, -1] + [1] * 7 + [-1], dtype=np.float32)
    vector = (signs / np.linalg.norm(signs))[None, :]
    assert decoded("ubinary", vector).tolist() == [[0b10101010, 0b11111110]]
    assert decoded("binary", vector).tolist() == [[0b10101010 - 128, 0b11111110 - 128]]
    zero = np.zeros((1, 8), dtype=np.float32)  # 0 is not positive: bit 0
    assert decoded("ubinary", zero).tolist() == [[0]]


def test_binary_and_ubinary_give_the_same_hamming_distances() -> None:
    vectors = unit_rows(6, 384)
    signed = decoded("binary", vectors).astype(np.int8).view(np.uint8)
    unsigned = decoded("ubinary", vectors).astype(np.uint8)

    def distances(rows: np.ndarray) -> np.ndarray:
        return np.unpackbits(rows[:, None, :] ^ rows[None, :, :], axis=2).sum(axis=2)

    np.testing.assert_array_equal(distances(signed), distances(unsigned))


@pytest.mark.parametrize("name", list(ENCODINGS))
@pytest.mark.parametrize("width", [8, 96, 384])
def test_the_size_floor_is_a_floor(name: str, width: int) -> None:
    vectors = unit_rows(20, width)
    real = lambda_payload_size(embeddings_body(vectors, "m", 7, name, CALIBRATION), False)
    floor = least_payload_size(20, width, "m", 7, name)
    assert floor == real if encoding(name).base64 else floor <= real


def test_a_2048_input_binary_response_fits_without_gzip() -> None:
    vectors = unit_rows(2048, 384)
    body = embeddings_body(vectors, "all-MiniLM-L6-v2", 2048 * 256, "binary")
    assert lambda_payload_size(body, False) < 1_000_000  # Lambda's limit is 6 MB
    assert least_payload_size(2048, 384, "all-MiniLM-L6-v2", 2048 * 256, "binary") < len(body)


def test_the_scale_needs_a_calibration() -> None:
    with pytest.raises(ValueError, match="int8 calibration"):
        encoding("int8").encode(unit_rows(1, 8), None)
    assert Int8Calibration.from_manifest({}, 384) is None
    assert Int8Calibration.from_manifest({"encodings": {"int8": {"scale": 0}}}, 384) is None
    assert Int8Calibration.from_manifest(
        {"encodings": {"int8": {"scale": 590.0}}}, 384
    ) == Int8Calibration(590.0, 384)


def test_models_description_lists_what_the_model_can_serve() -> None:
    assert described(None)["encoding_formats"] == ["float", "base64", "binary", "ubinary"]
    full = described(CALIBRATION)
    assert full["encoding_formats"] == list(ENCODINGS)
    assert full["int8"]["scale"] == 590.0
