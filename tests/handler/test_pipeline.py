"""The embeddings pipeline (handler/embeddings/) as the route and a batch line both use it."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from handler.batch.lines import PreparedLine, embed_lines, prepare_line
from handler.batch.metering import PartUsage
from handler.embedder import Embedder
from handler.embedding_request import (
    JSON_MAX_LEVELS,
    parse_embedding_request,
    validate_embedding_request,
)
from handler.embeddings import pipeline
from handler.embeddings.models import ServedModels
from handler.errors import APIError
from handler.records import REQUEST_FIELDS, UsageRecord
from handler.settings import Settings


def _outcome(parse: object) -> object:
    try:
        return parse()  # type: ignore[operator]
    except APIError as error:
        return (error.status, error.envelope())


def _nested(levels: int, leaf: bytes) -> bytes:
    return b"[" * levels + leaf + b"]" * levels


BODIES = [
    b'{"model":"m","input":"x"}',
    b'{"model":"m","input":["a","b"],"dimensions":64,"user":"u","encoding_format":"base64"}',
    b'{"model":"m","input":[[1,2],[3]],"encoding_format":null}',
    b'{"model":5,"input":"x"}',
    b'{"model":"m","input":"x","dimensions":1.0}',
    b'{"model":"m","input":"x","dimensions":true}',
    b'{"model":"m","input":["a",""]}',
    b'{"model":"m","input":[1,[2]]}',
    b'{"model":"m","input":"x","encoding_format":"int8"}',
    b'{"input":"x"}',
    b'{"model":"m","input":null}',
    b'{"model":"m","input":"x","user":"' + b"u" * 300 + b'"}',
    b'{"model":"m","input":["a","b","c","d","e"]}',
    # nesting around the JSON parser's limit, in ignored fields and in `input`
    *[
        b'{"model":"m","input":"x","extra":' + _nested(n, leaf) + b"}"
        for n in (JSON_MAX_LEVELS - 2, JSON_MAX_LEVELS - 1, JSON_MAX_LEVELS, 300)
        for leaf in (b"", b"1", b'{"a":{}}')
    ],
    *[
        b'{"model":"m","input":' + _nested(n, b"1") + b"}"
        for n in (3, JSON_MAX_LEVELS - 1, JSON_MAX_LEVELS, 250)
    ],
]


@pytest.mark.unit
@pytest.mark.parametrize("raw", BODIES, ids=range(len(BODIES)))
def test_a_body_parsed_with_its_line_validates_as_its_bytes_do(raw: bytes) -> None:
    # GIVEN a body as the sync route reads it (bytes) and as a batch line holds it (parsed)
    as_bytes = _outcome(lambda: parse_embedding_request(raw, 4))
    as_value = _outcome(lambda: validate_embedding_request(orjson.loads(raw), 4))
    # THEN the same request or the same error
    assert as_value == as_bytes


@pytest.mark.unit
def test_every_recorded_request_field_names_a_request_and_a_record_field() -> None:
    from dataclasses import fields

    from handler.embedding_request import CreateEmbeddingRequest

    record_fields = {f.name for f in fields(UsageRecord)}
    assert set(REQUEST_FIELDS) <= record_fields
    assert set(REQUEST_FIELDS.values()) <= set(CreateEmbeddingRequest.model_fields)


@pytest.mark.functional
@pytest.mark.parametrize("dimensions", [None, 64])
def test_route_and_batch_line_build_the_same_record_with_the_requested_dimensions(
    embedder: Embedder, dimensions: int | None
) -> None:
    settings = Settings.from_env()
    body = {"model": "all-MiniLM-L6-v2", "input": ["a", "b"], "user": "u"}
    if dimensions is not None:
        body["dimensions"] = dimensions
    # the sync route's steps
    parsed = parse_embedding_request(orjson.dumps(body), settings.max_inputs)
    prepared = pipeline.prepare(
        parsed, ServedModels.single(embedder, settings.model_aliases), settings
    )
    content = pipeline.encode(prepared, pipeline.run(prepared))
    record = pipeline.usage_record(prepared, "b:1", "key_x", 1.0, 0.0)
    # a batch line with the same body
    line = {"custom_id": "c", "method": "POST", "url": "/v1/embeddings", "body": body}
    ready = prepare_line(orjson.dumps(line), 1, "b", "/v1/embeddings", embedder, settings)
    assert isinstance(ready, PreparedLine)
    answered = embed_lines([ready], "b")[0]
    assert orjson.loads(answered.line)["response"]["body"] == orjson.loads(content)
    # a part of that one line is metered as the request would be, under the part's id
    part = PartUsage()
    part.add(answered, 1.0)
    from_batch = part.record("key_x", "b", 1, 1)
    assert from_batch is not None and from_batch.request_id == "b:shard:1:part:1"
    assert replace(from_batch, timestamp=0.0, request_id="b:1") == record
    # THEN the record holds the request's dimensions as sent, and the width returned
    assert record.requested_dimensions == dimensions
    assert record.dimensions == (dimensions or embedder.dimensions)
    assert UsageRecord.from_json(record.to_json()) == record
