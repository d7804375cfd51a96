"""Serialise embeddings in OpenAI's response shape, compress, and keep within Lambda's 6 MB.

Vectors go from numpy to JSON bytes through orjson (OPT_SERIALIZE_NUMPY) with no Python
float objects in between. How each `encoding_format` writes a vector, how small it can print
and whether it is worth gzipping are its entry in handler/encodings.py.
"""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np
import orjson

from handler.encodings import DEFAULT, Int8Calibration, encoding
from handler.errors import response_too_large

GZIP_MIN_BYTES = 1024  # below this the gzip header costs more than it saves
GZIP_LEVEL = 1  # the fastest level already shrinks float JSON about 2x
# A unit vector's float32 component prints as at least 8 characters with its comma
# ("-0.0123," or "0.70710677,"; measured: 9.5 a component at 2 dimensions, 12 at 384), "0.0,"
# as 4 (the float entry's least_extra_chars). Only a 1-dimension vector is exactly +-1.0.


def embeddings_body(
    vectors: np.ndarray,
    model: str,
    prompt_tokens: int,
    encoding_format: str,
    calibration: Int8Calibration | None = None,
) -> bytes:
    """`{"object":"list","data":[...],"model":...,"usage":{...}}` as JSON bytes; `calibration`
    is the model's int8 scale, needed by the encodings that quantise with it."""
    rows = encoding(encoding_format).encode(vectors, calibration)
    return rows_body(rows, model, prompt_tokens)


def rows_body(embeddings: list[Any], model: str, prompt_tokens: int) -> bytes:
    data = [
        {"object": "embedding", "index": index, "embedding": embedding}
        for index, embedding in enumerate(embeddings)
    ]
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def lambda_payload_size(body: bytes, binary: bool) -> int:
    """Bytes `body` takes inside Lambda's JSON response: base64 when binary (Mangum encodes
    compressed bodies), else a JSON string where quotes and backslashes gain an escape."""
    if binary:
        return 4 * ((len(body) + 2) // 3)
    return len(body) + body.count(b'"') + body.count(b"\\")


def least_payload_size(
    count: int, dimensions: int, model: str, prompt_tokens: int, encoding_format: str
) -> int:
    """A lower bound of the uncompressed response's size in a Lambda payload, known before the
    model runs: exact for base64 (its length does not depend on the values), otherwise the
    body of zero vectors (the shortest integers) plus the encoding's least_extra_chars a
    component (floats)."""
    if count < 1:
        return 0
    entry = encoding(encoding_format)

    def size_of(rows: int) -> int:
        shortest = entry.shortest(rows, dimensions)
        return lambda_payload_size(rows_body(shortest, model, prompt_tokens), False)

    # Sizes add up over the parts of the body, and entry i differs from entry 1 only in the
    # digits of its index: from one- and two-entry bodies, with no count-sized body built.
    one = size_of(1)
    per_entry = size_of(2) - one  # the comma and entry 1
    index_digits = sum(len(str(index)) for index in range(1, count))
    size = one + (count - 1) * (per_entry - 1) + index_digits
    if dimensions > 1:
        size += count * entry.values_per_vector(dimensions) * entry.least_extra_chars
    return size


def check_fits(
    count: int,
    dimensions: int,
    model: str,
    prompt_tokens: int,
    encoding_format: str,
    accept_encoding: str,
    limit: int,
) -> None:
    """Raise the 413 of fit_response before the model runs (and before any quota is charged)
    when the response cannot fit. A compressible response the client takes gzipped is only
    known once built."""
    entry = encoding(encoding_format)
    if entry.compressible and accepts_gzip(accept_encoding):
        return
    size = least_payload_size(count, dimensions, model, prompt_tokens, encoding_format)
    if size > limit:
        raise response_too_large(size, limit, at_least=not entry.base64)


def fit_response(
    body: bytes, accept_encoding: str, limit: int, encoding_format: str = DEFAULT
) -> tuple[bytes, dict[str, str]]:
    """The body to send (gzipped when accepted and its encoding is compressible) and its extra
    headers; raises a 413 APIError when even that would not fit in a Lambda response.

    Base64 vectors are not worth compressing: gzip saves ~25% at ~60 ms per MB, and Lambda's
    base64 of a binary body adds those 25% back; JSON numbers (~2.3x smaller) are."""
    headers: dict[str, str] = {}
    if (
        encoding(encoding_format).compressible
        and len(body) >= GZIP_MIN_BYTES
        and accepts_gzip(accept_encoding)
    ):
        body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        headers = {"content-encoding": "gzip", "vary": "accept-encoding"}
    size = lambda_payload_size(body, binary=bool(headers))
    if size > limit:
        raise response_too_large(size, limit)
    return body, headers
