"""The embeddings pipeline: `prepare` (resolve, check, tokenize, check the answer fits),
then `encode` the vectors the caller ran, then `usage_record`.

The route and the batch lines differ only in what surrounds these calls: the route charges
the caller's quotas between `prepare` and the run and holds the model lock; a batch worker
admits lines against the owner's budget and may run several lines' inputs in one pass. The
order of the checks is here, once, so a batch line is refused exactly as the same request
sent alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from handler.embedder import InputError, Tokenized, truncate_dimensions
from handler.embedding_checks import checked_dimensions, tokenized_within_limits
from handler.embedding_request import CreateEmbeddingRequest
from handler.embedding_response import check_fits, embeddings_body
from handler.embeddings.models import ModelResolver, ServedModel
from handler.embeddings.prompts import prompt_text
from handler.errors import APIError, refused_tokens
from handler.records import REQUEST_FIELDS, UsageRecord
from handler.settings import Settings


class Gate(Protocol):
    """The caller's token quota around tokenizing (the route's meter; none for batch lines,
    whose budget is admitted per group). Each may block and raises an APIError (429)."""

    def before_tokenizing(self) -> None: ...

    def refused(self, tokens: int) -> None: ...


class OpenGate:
    def before_tokenizing(self) -> None:
        return None

    def refused(self, tokens: int) -> None:
        return None


OPEN_GATE = OpenGate()


@dataclass(frozen=True)
class Prepared:
    """A request checked and tokenized, waiting for its vectors."""

    body: CreateEmbeddingRequest
    model: ServedModel
    dimensions: int  # of the returned vectors
    tokenized: Tokenized
    prompt_tokens: int

    @property
    def inputs(self) -> int:
        return len(self.body.inputs)


def prepare(
    body: CreateEmbeddingRequest,
    resolve: ModelResolver,
    settings: Settings,
    accept_encoding: str = "",
    gate: Gate = OPEN_GATE,
) -> Prepared:
    """The request resolved, checked and tokenized; raises APIError (404 model, 400 input,
    413 an answer over MAX_RESPONSE_BYTES, 429 from the gate) or the embedder's InputError."""
    model = resolve(body.model)
    dimensions = checked_dimensions(body.dimensions, model.embedder, model.id)
    gate.before_tokenizing()  # a key past its TPM makes us tokenize nothing
    prompt = prompt_text(model.embedder.manifest, body.input_type)  # input_type's, if any
    try:
        tokenized, prompt_tokens = tokenized_within_limits(
            body.inputs, model.embedder, settings, prompt
        )
    except (APIError, InputError) as refused:  # tokenized, then refused: still metered
        gate.refused(refused_tokens(refused))
        raise
    check_fits(  # an answer that cannot fit is refused before any quota is charged
        len(body.inputs),
        dimensions,
        model.id,
        prompt_tokens,
        body.encoding_format,
        accept_encoding,
        settings.max_response_bytes,
    )
    return Prepared(body, model, dimensions, tokenized, prompt_tokens)


def run(prepared: Prepared) -> np.ndarray:
    """The request's vectors, alone in one model pass (blocking compute)."""
    return prepared.model.embedder.run(prepared.tokenized)


def encode(prepared: Prepared, vectors: np.ndarray) -> bytes:
    """OpenAI's response body for `vectors` (the model's full width, one row per input)."""
    vectors = truncate_dimensions(vectors, prepared.dimensions)
    return embeddings_body(
        vectors, prepared.model.id, prepared.prompt_tokens, prepared.body.encoding_format
    )


def usage_record(
    prepared: Prepared, request_id: str, key_id: str, latency_ms: float, timestamp: float
) -> UsageRecord:
    """The one place a UsageRecord is built, for a sync request and for a batch line."""
    requested: dict[str, Any] = {
        field: getattr(prepared.body, attribute) for field, attribute in REQUEST_FIELDS.items()
    }
    return UsageRecord(
        request_id=request_id,
        key_id=key_id,
        model=prepared.model.id,
        prompt_tokens=prepared.prompt_tokens,
        total_tokens=prepared.prompt_tokens,
        inputs=prepared.inputs,
        dimensions=prepared.dimensions,
        truncated_inputs=prepared.tokenized.truncated,
        pooled_inputs=prepared.tokenized.pooled,
        latency_ms=round(latency_ms, 3),
        timestamp=timestamp,
        **requested,
    )
