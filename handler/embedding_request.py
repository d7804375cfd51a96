"""Parse and validate a POST /v1/embeddings body into an EmbeddingRequest.

Validation is done by hand on the orjson-parsed body rather than by a pydantic model: the
union of four input shapes gives unreadable pydantic errors, and OpenAI's clients expect
OpenAI's messages. Checks that need the model (vocabulary, token lengths) happen in the embedder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from handler.errors import APIError, invalid, invalid_field, malformed_json, unsupported_media_type

ENCODING_FORMATS = ("float", "base64")


@dataclass(frozen=True)
class EmbeddingRequest:
    inputs: list[str] | list[list[int]]
    model: str
    encoding_format: str  # "float" or "base64"
    dimensions: int | None
    user: str | None


def check_content_type(content_type: str) -> None:
    """415 for a body declared as something other than JSON; a missing header is let through
    (the body still has to parse as JSON), as API Gateway test events often omit it."""
    if not content_type:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise unsupported_media_type(content_type)


def _missing(name: str) -> APIError:
    return invalid(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")


def _is_int(value: object) -> bool:
    return type(value) is int  # bool is an int subclass; true/false are not token ids


def _token_array(value: Any, path: str) -> list[int]:
    if not isinstance(value, list) or not value or not all(_is_int(t) and t >= 0 for t in value):
        raise invalid_field(path, "input")
    return value


def parse_inputs(raw: Any, max_inputs: int) -> list[str] | list[list[int]]:
    """One of OpenAI's four input shapes, as a list of strings or a list of token arrays."""
    if isinstance(raw, str):
        if not raw:
            raise invalid_field("$.input", "input")
        return [raw]
    if not isinstance(raw, list) or not raw:
        raise invalid_field("$.input", "input")
    if len(raw) > max_inputs:
        raise invalid(
            f"'$.input' has {len(raw)} items; at most {max_inputs} inputs are allowed per request.",
            "input",
        )
    first = raw[0]
    if isinstance(first, str):
        for index, item in enumerate(raw):
            if not isinstance(item, str) or not item:
                raise invalid_field(f"$.input[{index}]", "input")
        return raw
    if _is_int(first):
        return [_token_array(raw, "$.input")]
    if isinstance(first, list):
        return [_token_array(item, f"$.input[{index}]") for index, item in enumerate(raw)]
    raise invalid_field("$.input[0]", "input")


def parse_embedding_request(body: bytes, max_inputs: int) -> EmbeddingRequest:
    """The validated request; raises APIError (400) naming the bad parameter."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise malformed_json() from None
    if not isinstance(raw, dict):
        raise invalid("The request body must be a JSON object.")
    if "input" not in raw or raw["input"] is None:
        raise _missing("input")
    model = raw.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model:
        raise invalid_field("$.model", "model")
    encoding_format = raw.get("encoding_format") or "float"
    if encoding_format not in ENCODING_FORMATS:
        raise invalid(
            f"{encoding_format!r} is not one of ['float', 'base64'] - 'encoding_format'",
            "encoding_format",
        )
    dimensions = raw.get("dimensions")
    if dimensions is not None and not _is_int(dimensions):
        raise invalid_field("$.dimensions", "dimensions")
    user = raw.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid_field("$.user", "user")
    return EmbeddingRequest(
        inputs=parse_inputs(raw["input"], max_inputs),
        model=model,
        encoding_format=encoding_format,
        dimensions=dimensions,
        user=user,
    )
