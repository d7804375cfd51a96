"""The encodings a vector is returned in: one table, one entry per `encoding_format` value.

Pure numpy (no web, no AWS). Every place that serialises, sizes, compresses or validates an
encoding reads its entry here; adding an encoding is one `Encoding(...)` line in ENCODINGS
and its test (tests/handler/test_encodings.py).

- `float`, `base64`: OpenAI's (float32, as JSON numbers or base64 of little-endian bytes).
- `int8`: round-half-even(x * scale), clipped to [-127, 127]; one global scale per model and
  width, calibrated at build time (model_artifacts/compact.py) and stored in the manifest, so
  raw integer dot products rank as float ones do (a scale per dimension would reweight them).
  Dequantise: x ~= q / scale. `uint8` is int8 + 128.
- `ubinary`: the sign bit of each dimension (x > 0 -> 1), 8 dimensions a byte, first dimension
  in the high bit (numpy.packbits, as Cohere and sentence-transformers pack); `binary` is the
  same byte - 128 as int8 (Cohere's signed form). Its bit pattern is ubinary's with the high bit
  flipped, so Hamming distances are the same on both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

INT8_MAX = 127  # symmetric: -128 is never produced, so q and -q are both representable


@dataclass(frozen=True)
class Int8Calibration:
    """The build's int8 scale at the model's full width (manifest `encodings.int8`)."""

    scale: float  # int8 units per 1.0 of a component, at `dimensions`
    dimensions: int

    def scale_at(self, width: int) -> float:
        """The scale for vectors cut to `width` dimensions (and renormalised): components grow
        as 1/sqrt(width), so the scale shrinks by sqrt(width / dimensions)."""
        if width == self.dimensions:
            return self.scale
        return self.scale * math.sqrt(width / self.dimensions)

    @classmethod
    def from_manifest(cls, extra: dict[str, Any], dimensions: int) -> Int8Calibration | None:
        """From the manifest's extra sections; None for an artifact built before int8 existed."""
        section = (extra.get("encodings") or {}).get("int8") or {}
        scale = section.get("scale")
        if not isinstance(scale, (int, float)) or not scale > 0:
            return None
        return cls(float(scale), dimensions)


Quantise = Callable[[np.ndarray, float], np.ndarray]


def float32(vectors: np.ndarray, scale: float) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype="<f4")


def int8(vectors: np.ndarray, scale: float) -> np.ndarray:
    # float64 so the product rounds the same on every machine and in every batch
    scaled = np.rint(vectors.astype(np.float64) * scale)
    return np.clip(scaled, -INT8_MAX, INT8_MAX).astype(np.int8)


def uint8(vectors: np.ndarray, scale: float) -> np.ndarray:
    return (int8(vectors, scale).astype(np.int16) + 128).astype(np.uint8)


def ubinary(vectors: np.ndarray, scale: float) -> np.ndarray:
    return np.packbits(vectors > 0, axis=1)


def binary(vectors: np.ndarray, scale: float) -> np.ndarray:
    return (ubinary(vectors, scale).astype(np.int16) - 128).astype(np.int8)


@dataclass(frozen=True, kw_only=True)
class Encoding:
    name: str
    quantise: Quantise  # (n, width) float32 unit vectors, int8 scale at width -> (n, values)
    dtype: str  # numpy dtype of the quantised values
    description: str  # for docs and the OpenAPI document
    dims_per_value: int = 1  # 8 for the bit-packed encodings
    base64: bool = False  # each vector as base64 of its little-endian bytes, not a JSON array
    compressible: bool = True  # gzip it when the client accepts gzip (embedding_response)
    least_extra_chars: int = 0  # chars a component prints beyond a zero's, at least (floats)
    needs_scale: bool = False  # quantises with the model's calibrated int8 scale

    def values_per_vector(self, width: int) -> int:
        return width // self.dims_per_value

    def bytes_per_vector(self, width: int) -> int:
        return self.values_per_vector(width) * np.dtype(self.dtype).itemsize

    def rows(self, values: np.ndarray) -> list[Any]:
        """The `embedding` of each vector: a numpy row orjson writes as a JSON array, or a
        base64 string."""
        if self.base64:
            from base64 import b64encode

            return [b64encode(row.tobytes()).decode() for row in values]
        return list(values)

    def encode(self, vectors: np.ndarray, calibration: Int8Calibration | None) -> list[Any]:
        scale = 0.0
        if self.needs_scale:
            if calibration is None:
                raise ValueError(f"{self.name} needs the model's int8 calibration")
            scale = calibration.scale_at(vectors.shape[1])
        return self.rows(self.quantise(vectors, scale))

    def shortest(self, count: int, width: int) -> list[Any]:
        """Rows whose JSON is as short as this encoding's can be (zeros)."""
        return self.rows(np.zeros((count, self.values_per_vector(width)), dtype=self.dtype))


ENCODINGS: dict[str, Encoding] = {
    e.name: e
    for e in (
        Encoding(
            name="float",
            quantise=float32,
            dtype="<f4",
            least_extra_chars=4,
            description="float32 values as JSON numbers",
        ),
        Encoding(
            name="base64",
            quantise=float32,
            dtype="<f4",
            base64=True,
            # gzip saves ~25% of base64 at ~60 ms a MB, and Lambda's base64 of a gzipped
            # body adds it back
            compressible=False,
            description="base64 of the little-endian float32 bytes",
        ),
        Encoding(
            name="int8",
            quantise=int8,
            dtype="i1",
            needs_scale=True,
            description="JSON integers in [-127, 127]: round(x * scale); the model's scale is "
            "in GET /v1/models/{id}",
        ),
        Encoding(
            name="uint8",
            quantise=uint8,
            dtype="u1",
            needs_scale=True,
            description="int8 + 128: JSON integers in [1, 255]",
        ),
        Encoding(
            name="binary",
            quantise=binary,
            dtype="i1",
            dims_per_value=8,
            description="sign bits, 8 dimensions a byte (first in the high bit), each byte - "
            "128 as a JSON integer in [-128, 127]",
        ),
        Encoding(
            name="ubinary",
            quantise=ubinary,
            dtype="u1",
            dims_per_value=8,
            description="the binary bytes as unsigned JSON integers in [0, 255]",
        ),
    )
}
DEFAULT = "float"


def encoding(name: str) -> Encoding:
    """The table entry; KeyError for a name not in ENCODINGS (the request parser refuses
    those first)."""
    return ENCODINGS[name]


def described(calibration: Int8Calibration | None) -> dict[str, Any]:
    """What GET /v1/models/{id} tells a client about the encodings it can ask this model for,
    with the int8 scale and how to dequantise (docs/api.md, "Compact vectors")."""
    names = [e.name for e in ENCODINGS.values() if calibration is not None or not e.needs_scale]
    out: dict[str, Any] = {"encoding_formats": names}
    if calibration is not None:
        out["int8"] = {
            "scale": calibration.scale,
            "dimensions": calibration.dimensions,
            "quantise": "q = clip(round_half_even(x * s), -127, 127); uint8 = q + 128",
            "dequantise": "x = q / s (uint8: (u - 128) / s)",
            "scale_at_dimensions": f"s = scale * sqrt(dimensions / {calibration.dimensions})",
            "max_error": "0.5 / s per component, more only for a component past 127 / s (clipped)",
        }
    return out
