"""The POST /v1/embeddings body as a pydantic model, validated with OpenAI's rules and messages.

`parse_embedding_request` validates the raw bytes in one pass (pydantic-core parses the JSON
itself). The four input shapes and the encoding go through plain validators that raise
OpenAI's wording; `json_schema_input_type` keeps the published schema the union OpenAI
documents. Checks that need the model (vocabulary, token lengths) happen in the embedder.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from handler.embeddings.prompts import INPUT_TYPES
from handler.errors import (
    APIError,
    invalid,
    invalid_field,
    malformed_json,
    missing_parameter,
    unsupported_media_type,
)

ENCODING_FORMATS = ("float", "base64")
# Client-controlled strings that reach usage records and logs. OpenAI's `user` is a short
# end-user id and its model ids are a few dozen characters: no real client comes near these.
MAX_USER_CHARS = 256
MAX_MODEL_CHARS = 256
MAX_INPUTS_CONTEXT = "max_inputs"  # validation context key: Settings.max_inputs

TokenIds = list[int]
InputShapes = str | list[str] | TokenIds | list[TokenIds]


def _invalid(path: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_field", "{path}", {"path": path})


def _is_int(value: object) -> bool:
    return type(value) is int  # bool is an int subclass; true/false are not token ids


def _token_array(value: Any, path: str) -> TokenIds:
    if not isinstance(value, list) or not value or not all(_is_int(t) and t >= 0 for t in value):
        raise _invalid(path)
    return value


class CreateEmbeddingRequest(BaseModel):
    """OpenAI's CreateEmbeddingRequest; `input` is normalised to a list of strings or a list
    of token arrays (the `inputs` property)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    input: list[str] | list[TokenIds] = Field(
        description="Text or token ids to embed: a string, an array of strings, an array of "
        "token ids or an array of token-id arrays; no empty string or array."
    )
    model: StrictStr = Field(min_length=1, max_length=MAX_MODEL_CHARS)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: StrictInt | None = None  # its range depends on the model: checked by the route
    user: StrictStr | None = Field(default=None, max_length=MAX_USER_CHARS)
    # NVIDIA's and Cohere's name for what the input is (handler/embeddings/prompts.py); picks
    # the model's prompt, and is accepted (and ignored) by a model without prompts.
    input_type: str | None = Field(
        default=None,
        description="What the inputs are: " + ", ".join(INPUT_TYPES) + ". Selects the "
        "model's prompt (GET /v1/models lists each model's); ignored by a model without.",
    )

    @property
    def inputs(self) -> list[str] | list[TokenIds]:
        return self.input

    @field_validator("input", mode="plain", json_schema_input_type=InputShapes)
    @classmethod
    def _one_of_four_shapes(cls, raw: Any, info: ValidationInfo) -> list[str] | list[TokenIds]:
        if raw is None:  # OpenAI treats "input": null as missing
            raise PydanticCustomError("missing", "missing")
        if isinstance(raw, str):
            if not raw:
                raise _invalid("$.input")
            return [raw]
        if not isinstance(raw, list) or not raw:
            raise _invalid("$.input")
        max_inputs = (info.context or {}).get(MAX_INPUTS_CONTEXT)
        if max_inputs is not None and len(raw) > max_inputs:
            raise PydanticCustomError(
                "too_many_inputs",
                "'$.input' has {count} items; at most {limit} inputs are allowed per request.",
                {"count": len(raw), "limit": max_inputs},
            )
        first = raw[0]
        if isinstance(first, str):
            for index, item in enumerate(raw):
                if not isinstance(item, str) or not item:
                    raise _invalid(f"$.input[{index}]")
            return raw
        if _is_int(first):
            return [_token_array(raw, "$.input")]
        if isinstance(first, list):
            return [_token_array(item, f"$.input[{index}]") for index, item in enumerate(raw)]
        raise _invalid("$.input[0]")

    @field_validator(
        "encoding_format", mode="plain", json_schema_input_type=Literal["float", "base64"] | None
    )
    @classmethod
    def _float_or_base64(cls, raw: Any) -> str:
        if raw is None or raw == "":  # OpenAI's default when absent, null or empty
            return "float"
        if raw not in ENCODING_FORMATS:
            raise PydanticCustomError(
                "encoding_format",
                "{value} is not one of ['float', 'base64'] - 'encoding_format'",
                {"value": repr(raw)},
            )
        return str(raw)

    @field_validator(
        "input_type", mode="plain", json_schema_input_type=Literal[tuple(INPUT_TYPES)] | None
    )
    @classmethod
    def _known_input_type(cls, raw: Any) -> str | None:
        if raw is None:
            return None
        if raw not in INPUT_TYPES:
            shown = repr(raw)[:MAX_MODEL_CHARS]  # the value echoed, bounded
            raise PydanticCustomError(
                "input_type",
                "{value} is not one of {accepted} - 'input_type'",
                {"value": shown, "accepted": list(INPUT_TYPES)},
            )
        return str(raw)


def check_content_type(content_type: str) -> None:
    """415 for a body declared as something other than JSON; a missing header is let through
    (the body still has to parse as JSON), as API Gateway test events often omit it."""
    if not content_type:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise unsupported_media_type(content_type)


def parse_embedding_request(body: bytes, max_inputs: int) -> CreateEmbeddingRequest:
    """The validated request; raises APIError (400) naming the bad parameter."""
    try:
        return CreateEmbeddingRequest.model_validate_json(
            body, context={MAX_INPUTS_CONTEXT: max_inputs}
        )
    except ValidationError as exc:
        raise _to_api_error(exc) from None


# pydantic-core's JSON parser refuses a document more than this many levels deep (a scalar or
# an empty array or object is a level; measured: 201 nested empty arrays parse, 202 do not).
JSON_MAX_LEVELS = 201


def validate_embedding_request(body: dict[str, Any], max_inputs: int) -> CreateEmbeddingRequest:
    """`parse_embedding_request` for a body already parsed as JSON (a batch line's, parsed
    once with its line): the same request or the same APIError as for its bytes."""
    try:
        request = CreateEmbeddingRequest.model_validate(
            body, context={MAX_INPUTS_CONTEXT: max_inputs}
        )
    except ValidationError as exc:
        if _levels(body, JSON_MAX_LEVELS) > JSON_MAX_LEVELS:
            raise malformed_json() from None
        raise _to_api_error(exc) from None
    # A valid `input` is at most 3 levels deep; the fields it ignores may nest deeper than
    # the parser of the bytes would have read.
    extra = {name: value for name, value in body.items() if name != "input"}
    if _levels(extra, JSON_MAX_LEVELS) > JSON_MAX_LEVELS:
        raise malformed_json()
    return request


def _levels(value: object, limit: int) -> int:
    """How many levels deep `value` nests, counting stops once past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def _to_api_error(exc: ValidationError) -> APIError:
    """OpenAI's message for the first problem pydantic found."""
    first = exc.errors(include_url=False)[0]
    kind, loc = first["type"], first["loc"]
    if kind == "json_invalid":
        return malformed_json()
    if not loc:  # the body parsed, but is an array, a string, a number...
        return invalid("The request body must be a JSON object.")
    param = str(loc[0])
    if kind == "missing":
        return missing_parameter(param)
    if kind == "invalid_field":
        return invalid_field(first["ctx"]["path"], param)
    if kind in ("too_many_inputs", "encoding_format", "input_type"):
        return invalid(first["msg"], param)
    if kind == "string_too_long":
        limit = first["ctx"]["max_length"]
        return invalid(f"'{param}' must be at most {limit} characters long.", param)
    return invalid_field("$." + ".".join(str(part) for part in loc), param)
