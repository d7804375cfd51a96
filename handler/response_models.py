"""The response bodies as pydantic models: the schema /openapi.json publishes, and what the
tests validate real responses against.

Not imported at cold start (their classes cost ~7 ms to build): the route writes the bytes
with orjson straight from numpy (handler/embedding_response.py) and handler/errors.py renders
the error envelope; handler/openapi.py imports this module on the document's first request.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Embedding(BaseModel):
    object: Literal["embedding"]
    index: int = Field(ge=0)
    embedding: list[float] | str = Field(
        description="floats, base64 of little-endian float32 bytes, or integers for the "
        "compact encoding_format values (int8, uint8, binary, ubinary)"
    )


class EmbeddingUsage(BaseModel):
    prompt_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class CreateEmbeddingResponse(BaseModel):
    """OpenAI's CreateEmbeddingResponse: the schema of the bytes `embeddings_body` writes."""

    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """OpenAI's error envelope, as handler/errors.py renders every error."""

    error: ErrorDetail
