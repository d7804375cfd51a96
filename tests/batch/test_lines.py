"""Lines embedded together in one model pass answer exactly as each line run alone."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from handler.batch.lines import PreparedLine, embed_lines, prepare_line, process_line
from handler.embedder import Embedder
from handler.settings import Settings

pytestmark = pytest.mark.functional

BODIES = [
    {"model": "all-MiniLM-L6-v2", "input": "a short query"},
    {"model": "all-MiniLM-L6-v2", "input": ["two inputs", "in one line " * 30]},
    {"model": "all-MiniLM-L6-v2", "input": "base64 please", "encoding_format": "base64"},
    {"model": "all-MiniLM-L6-v2", "input": [[101, 7592, 2088, 102]], "dimensions": 64},
    {"model": "all-MiniLM-L6-v2", "input": "word " * 200},
]


def raw(index: int, body: dict[str, object]) -> bytes:
    line = {"custom_id": f"c{index}", "method": "POST", "url": "/v1/embeddings", "body": body}
    return orjson.dumps(line)


def test_lines_sharing_a_pass_get_the_bytes_each_gets_alone(embedder: Embedder) -> None:
    assert embedder.batch_invariant  # the build measured it; mixing lines relies on it
    settings = Settings.from_env()
    prepared = [
        prepare_line(raw(i, body), i, "batch_x", "/v1/embeddings", embedder, settings)
        for i, body in enumerate(BODIES, start=1)
    ]
    assert all(isinstance(p, PreparedLine) for p in prepared)
    together = embed_lines(prepared, "batch_x")  # type: ignore[arg-type]
    alone = [
        process_line(raw(i, body), i, "batch_x", "/v1/embeddings", embedder, settings)
        for i, body in enumerate(BODIES, start=1)
    ]
    assert [r.line for r in together] == [r.line for r in alone]
    assert [r.prepared.prompt_tokens for r in together] == [  # type: ignore[union-attr]
        r.prepared.prompt_tokens  # type: ignore[union-attr]
        for r in alone
    ]
    assert sum(r.prepared.inputs for r in together) == 6  # type: ignore[union-attr]


def test_an_artifact_not_measured_invariant_runs_each_line_alone(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env()
    prepared = [
        prepare_line(raw(i, body), i, "batch_x", "/v1/embeddings", embedder, settings)
        for i, body in enumerate(BODIES[:3], start=1)
    ]
    passes: list[int] = []
    run = embedder.run

    def counted(tokenized):  # type: ignore[no-untyped-def]
        passes.append(len(tokenized.ids))
        return run(tokenized)

    monkeypatch.setattr(embedder, "run", counted)
    invariant = replace(embedder.manifest, extra={**embedder.manifest.extra, "invariance": {}})
    monkeypatch.setattr(embedder, "manifest", invariant)
    assert not embedder.batch_invariant
    embed_lines(prepared, "batch_x")  # type: ignore[arg-type]
    assert passes == [1, 2, 1]
    monkeypatch.undo()
    passes.clear()
    monkeypatch.setattr(embedder, "run", counted)
    embed_lines(prepared, "batch_x")  # type: ignore[arg-type]
    assert passes == [4]


@pytest.mark.parametrize("depth", [255, 600, 1020])
def test_a_body_nested_too_deep_to_serialise_is_its_lines_400(
    embedder: Embedder, depth: int
) -> None:
    # GIVEN a 713-byte-ish line orjson reads (nesting <= 1,024) but will not write (> 254)
    body = b'{"model":"all-MiniLM-L6-v2","input":"x","extra":' + b"[" * depth + b"]" * depth
    line = b'{"custom_id":"deep","method":"POST","url":"/v1/embeddings","body":' + body + b"}}"
    orjson.loads(line)
    result = prepare_line(line, 7, "batch_x", "/v1/embeddings", embedder, Settings.from_env())
    # THEN it is that line's error (the sync route's answer to that body), not the shard's
    assert not isinstance(result, PreparedLine) and not result.ok
    answer = orjson.loads(result.line)
    assert answer["custom_id"] == "deep" and answer["response"]["status_code"] == 400
    assert answer["response"]["body"]["error"]["type"] == "invalid_request_error"


def test_a_line_whose_answer_would_exceed_the_response_limit_is_its_413(
    embedder: Embedder,
) -> None:
    # GIVEN a 10 KB line of 2,048 "a" inputs: ~9.7 MB of float vectors
    settings = Settings.from_env()
    body = {"model": "all-MiniLM-L6-v2", "input": ["a"] * 2048}
    result = prepare_line(raw(1, body), 1, "batch_x", "/v1/embeddings", embedder, settings)
    # THEN it is refused as the sync route refuses it, before the model runs
    assert not isinstance(result, PreparedLine)
    answer = orjson.loads(result.line)
    assert answer["response"]["status_code"] == 413
    assert answer["response"]["body"]["error"]["type"] == "invalid_request_error"
    # and its base64 answer (~2.1 MB) fits
    small = {**body, "encoding_format": "base64"}
    assert isinstance(
        prepare_line(raw(2, small), 2, "batch_x", "/v1/embeddings", embedder, settings),
        PreparedLine,
    )
