"""One batch input line -> one output line or one error line, in OpenAI's shapes.

The line's `body` goes through the embeddings pipeline (handler/embeddings/) exactly as
POST /v1/embeddings' body does, so a batch line and a synchronous request with the same body
give the same bytes; the line's JSON is parsed once (the body is validated from it).

    output: {"id","custom_id","response":{"status_code":200,"request_id","body":{...}},"error":null}
    a request the API refuses: the same, status_code 4xx and body = the error envelope
    a line that is not a request at all: {"id","custom_id","response":null,"error":{code,message}}
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from handler.embedder import Embedder, Tokenized
from handler.embedding_request import validate_embedding_request
from handler.embeddings import pipeline
from handler.embeddings.models import ServedModels
from handler.embeddings.pipeline import Prepared
from handler.errors import APIError, to_api_error
from handler.settings import Settings

MAX_CUSTOM_ID_CHARS = 512  # OpenAI publishes none; ours keeps error lines and logs bounded


@dataclass(frozen=True)
class LineResult:
    ok: bool
    line: bytes  # the JSONL line, newline included
    prepared: Prepared | None = None  # an answered request: what its usage record is built from


def request_id(batch_id: str, line_no: int) -> str:
    """The line's idempotency key: its usage record and its `response.request_id`."""
    return f"{batch_id}:{line_no}"


def line_id(batch_id: str, line_no: int) -> str:
    # Deterministic, so a shard run twice writes the same bytes.
    return "batch_req_" + hashlib.sha256(request_id(batch_id, line_no).encode()).hexdigest()[:24]


def _line(values: dict[str, Any], body: bytes | None = None) -> bytes:
    if body is None:
        return orjson.dumps(values) + b"\n"
    # Splice the already-serialised embeddings body in rather than parse and re-dump it.
    # A quote inside a string value is escaped, so the last unescaped `"body":null` is ours.
    head = orjson.dumps(values)
    at = head.rindex(b'"body":null') + len(b'"body":')
    return head[:at] + body + head[at + len(b"null") :] + b"\n"


def _broken(batch_id: str, line_no: int, custom_id: Any, code: str, message: str) -> LineResult:
    values = {
        "id": line_id(batch_id, line_no),
        "custom_id": custom_id if isinstance(custom_id, str) else None,
        "response": None,
        "error": {"code": code, "message": f"Line {line_no}: {message}"},
    }
    return LineResult(False, _line(values))


def _refused(batch_id: str, line_no: int, custom_id: str, error: APIError) -> LineResult:
    values = {
        "id": line_id(batch_id, line_no),
        "custom_id": custom_id,
        "response": {
            "status_code": error.status,
            "request_id": request_id(batch_id, line_no),
            "body": error.envelope(),
        },
        "error": None,
    }
    return LineResult(False, _line(values))


def expired_line(raw: bytes, line_no: int, batch_id: str) -> LineResult:
    """The error line of a request not run before its batch's completion window ended."""
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError:
        request = None
    custom_id = request.get("custom_id") if isinstance(request, dict) else None
    return _broken(
        batch_id,
        line_no,
        custom_id,
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    )


@dataclass(frozen=True)
class PreparedLine:
    """A valid request line, tokenized and waiting for its vectors (see embed_lines)."""

    line_no: int
    custom_id: str
    request: Prepared

    @property
    def prompt_tokens(self) -> int:
        return self.request.prompt_tokens

    @property
    def tokenized(self) -> Tokenized:
        return self.request.tokenized


Models = ServedModels | Embedder  # one Embedder: that model, under MODEL_ALIASES too


def served(models: Models, settings: Settings) -> ServedModels:
    if isinstance(models, ServedModels):
        return models
    return ServedModels.single(models, settings.model_aliases)


def process_line(
    raw: bytes, line_no: int, batch_id: str, endpoint: str, models: Models, settings: Settings
) -> LineResult:
    """The line's result; never raises for anything the line itself holds."""
    prepared = prepare_line(raw, line_no, batch_id, endpoint, models, settings)
    if isinstance(prepared, LineResult):
        return prepared
    return embed_lines([prepared], batch_id)[0]


def prepare_line(
    raw: bytes, line_no: int, batch_id: str, endpoint: str, models: Models, settings: Settings
) -> PreparedLine | LineResult:
    """The line checked and tokenized, or its error line; never raises for anything the line
    itself holds. The line's `body.model` picks the model (any the deployment serves)."""
    if len(raw) > settings.max_body_bytes:
        return _broken(batch_id, line_no, None, "line_too_large", "the line is too large.")
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _broken(batch_id, line_no, None, "invalid_json_line", "this line is not JSON.")
    if not isinstance(request, dict):
        return _broken(batch_id, line_no, None, "invalid_request", "a line must be an object.")
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID_CHARS:
        return _broken(
            batch_id,
            line_no,
            None,
            "invalid_custom_id",
            f"'custom_id' must be a non-empty string of at most {MAX_CUSTOM_ID_CHARS} characters.",
        )
    if request.get("method") != "POST":
        return _broken(batch_id, line_no, custom_id, "invalid_method", "'method' must be POST.")
    if request.get("url") != endpoint:
        return _broken(
            batch_id,
            line_no,
            custom_id,
            "invalid_url",
            f"'url' must be the batch's endpoint {endpoint}.",
        )
    body = request.get("body")
    if not isinstance(body, dict):
        return _broken(
            batch_id, line_no, custom_id, "invalid_body", "'body' must be a JSON object."
        )
    try:
        # The body as parsed with the line (parsed once), validated as the sync route does.
        parsed = validate_embedding_request(body, settings.max_inputs)
        resolve = served(models, settings)
        return PreparedLine(line_no, custom_id, pipeline.prepare(parsed, resolve, settings))
    except Exception as exc:
        error = to_api_error(exc)
        if error is None:
            raise  # not the line's fault: the shard is retried
        return _refused(batch_id, line_no, custom_id, error)


def embed_lines(prepared: Sequence[PreparedLine], batch_id: str) -> list[LineResult]:
    """The lines' output lines, in their order: one model pass per model the lines name."""
    by_model: dict[str, list[int]] = {}
    for index, line in enumerate(prepared):
        by_model.setdefault(line.request.model.id, []).append(index)
    results: dict[int, LineResult] = {}
    for indices in by_model.values():
        answers = _embed_one_model([prepared[i] for i in indices], batch_id)
        results.update(zip(indices, answers, strict=True))
    return [results[index] for index in range(len(prepared))]


def _embed_one_model(prepared: Sequence[PreparedLine], batch_id: str) -> list[LineResult]:
    """Lines of one model, from one pass over all their inputs.

    Only a batch-invariant artifact (manifest.invariance) may mix lines in one pass: its
    vectors are bit-identical to each line's request sent alone. Otherwise each line runs
    alone, as the synchronous route would run it."""
    embedder = prepared[0].request.model.embedder
    if not embedder.batch_invariant:
        return [_answer(line, pipeline.run(line.request), batch_id) for line in prepared]
    merged = Tokenized(
        ids=[ids for line in prepared for ids in line.tokenized.ids],
        truncated=sum(line.tokenized.truncated for line in prepared),
        pooled=sum(line.tokenized.pooled for line in prepared),
    )
    vectors = embedder.run(merged)
    results, at = [], 0
    for line in prepared:
        count = len(line.tokenized.ids)
        results.append(_answer(line, vectors[at : at + count], batch_id))
        at += count
    return results


def _answer(line: PreparedLine, vectors: np.ndarray, batch_id: str) -> LineResult:
    values = {
        "id": line_id(batch_id, line.line_no),
        "custom_id": line.custom_id,
        "response": {
            "status_code": 200,
            "request_id": request_id(batch_id, line.line_no),
            "body": None,
        },
        "error": None,
    }
    body = pipeline.encode(line.request, vectors)
    return LineResult(ok=True, line=_line(values, body), prepared=line.request)
