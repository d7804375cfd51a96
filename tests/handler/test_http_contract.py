"""Functional: the HTTP contract through the ASGI app (status, headers, full error envelopes)."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from handler_support import ALIAS, ListRecorder
from starlette.testclient import TestClient

from handler.embedder import Embedder
from handler.version import VERSION

pytestmark = pytest.mark.functional
URL = "/v1/embeddings"


def envelope(
    message: str, param: str | None, code: str | None, type: str = "invalid_request_error"
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def assert_common_headers(response: Any) -> None:
    assert response.headers["x-request-id"].startswith("req_")
    assert int(response.headers["openai-processing-ms"]) >= 0
    assert response.headers["content-type"] == "application/json"


def test_float_embeddings_response_shape(client: TestClient, embedder: Embedder) -> None:
    response = client.post(
        URL,
        json={"input": ["a cat", "a dog"], "model": embedder.model_id, "encoding_format": "float"},
    )
    assert response.status_code == 200
    assert_common_headers(response)
    body = response.json()
    assert list(body) == ["object", "data", "model", "usage"]
    assert body["object"] == "list"
    assert body["model"] == embedder.model_id
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0), ("embedding", 1)]
    expected = embedder.embed(["a cat", "a dog"])
    assert body["usage"] == {
        "prompt_tokens": expected.total_tokens,
        "total_tokens": expected.total_tokens,
    }
    vectors = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    assert vectors.shape == (2, embedder.dimensions)
    cosines = np.sum(vectors * expected.vectors, axis=1)
    assert cosines.min() >= 0.9999


def test_default_encoding_is_float(client: TestClient, embedder: Embedder) -> None:
    body = client.post(URL, json={"input": "x", "model": embedder.model_id}).json()
    assert isinstance(body["data"][0]["embedding"], list)


def test_base64_decodes_to_the_float_result(client: TestClient, embedder: Embedder) -> None:
    request = {"input": ["one", "two two"], "model": embedder.model_id}
    floats = client.post(URL, json={**request, "encoding_format": "float"}).json()
    b64 = client.post(URL, json={**request, "encoding_format": "base64"}).json()
    for f, b in zip(floats["data"], b64["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(b["embedding"]), dtype="<f4")
        np.testing.assert_array_equal(decoded, np.array(f["embedding"], dtype=np.float32))


def test_alias_answers_with_the_served_id(client: TestClient, embedder: Embedder) -> None:
    body = client.post(URL, json={"input": "x", "model": ALIAS}).json()
    assert body["model"] == embedder.model_id


@pytest.mark.parametrize("dimensions", [1, 64, 383])
def test_dimensions_truncate_and_renormalise(
    client: TestClient, embedder: Embedder, dimensions: int
) -> None:
    body = client.post(
        URL, json={"input": "hello there", "model": embedder.model_id, "dimensions": dimensions}
    ).json()
    vector = np.array(body["data"][0]["embedding"], dtype=np.float32)
    assert vector.shape == (dimensions,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    full = embedder.embed(["hello there"]).vectors[0][:dimensions]
    assert float(vector @ (full / np.linalg.norm(full))) > 0.9999


def test_token_id_inputs(client: TestClient, embedder: Embedder) -> None:
    ids = embedder.tokenizer.encode("token ids work too").ids
    one = client.post(URL, json={"input": ids, "model": embedder.model_id}).json()
    many = client.post(URL, json={"input": [ids, ids[:3]], "model": embedder.model_id}).json()
    text = client.post(URL, json={"input": "token ids work too", "model": embedder.model_id}).json()
    assert len(one["data"]) == 1
    assert len(many["data"]) == 2
    assert one["usage"]["prompt_tokens"] == len(ids)
    a = np.array(one["data"][0]["embedding"])
    assert float(a @ np.array(text["data"][0]["embedding"])) > 0.9999


def test_user_and_usage_are_recorded(
    client: TestClient, recorder: ListRecorder, embedder: Embedder
) -> None:
    response = client.post(
        URL,
        json={
            "input": ["a", "b c"],
            "model": ALIAS,
            "user": "u-42",
            "dimensions": 8,
            "encoding_format": "base64",
        },
    )
    (record,) = recorder.records
    assert record.request_id == response.headers["x-request-id"]
    assert (record.model, record.requested_model) == (embedder.model_id, ALIAS)
    assert record.prompt_tokens == response.json()["usage"]["prompt_tokens"]
    # one record type from route to ledger (handler/records.py): the ledger's names
    assert (record.inputs, record.dimensions, record.encoding_format, record.user) == (
        2,
        8,
        "base64",
        "u-42",
    )
    assert record.key_id == "anonymous"  # auth off
    assert record.latency_ms >= 0


def test_errors_are_not_recorded(client: TestClient, recorder: ListRecorder) -> None:
    client.post(URL, json={"input": "", "model": ALIAS})
    client.post(URL, json={"input": "x", "model": "nope"})
    assert recorder.records == []


def test_gzip_when_accepted(client: TestClient, embedder: Embedder) -> None:
    response = client.post(
        URL,
        json={"input": ["a"] * 20, "model": embedder.model_id},
        headers={"accept-encoding": "gzip"},
    )
    assert response.headers["content-encoding"] == "gzip"
    assert len(response.json()["data"]) == 20  # the client decompressed it


def test_models_list_and_retrieve(client: TestClient, embedder: Embedder) -> None:
    listed = client.get("/v1/models")
    assert listed.status_code == 200
    assert_common_headers(listed)
    ids = [m["id"] for m in listed.json()["data"]]
    assert ids == [embedder.model_id, ALIAS]
    assert listed.json()["object"] == "list"
    one = client.get(f"/v1/models/{embedder.model_id}").json()
    openai_fields = {key: one[key] for key in ("id", "object", "created", "owned_by")}
    assert openai_fields == {
        "id": embedder.model_id,
        "object": "model",
        "created": 0,
        "owned_by": "serverless-embeddings",
    }
    # ours beside OpenAI's (its clients ignore extra fields): the default model has no prompts
    assert one["served_as"] == embedder.model_id
    assert (one["dimensions"], one["max_input_tokens"]) == (384, 256)
    assert one["input_type"]["ignored"] is True
    missing = client.get("/v1/models/gpt-4")
    assert missing.status_code == 404
    assert missing.json() == envelope(
        "The model `gpt-4` does not exist or you do not have access to it.",
        "model",
        "model_not_found",
    )


def test_health(make_app: Callable[..., FastAPI], embedder: Embedder) -> None:
    with TestClient(make_app()) as fresh:
        first = fresh.get("/health").json()
        second = fresh.get("/health").json()
    assert first["model"] == embedder.model_id
    assert first["version"] == VERSION == fresh.get("/openapi.json").json()["info"]["version"]
    assert first["artifact_sha"] == embedder.artifact_sha
    assert len(first["artifact_sha"]) == 64
    assert (first["cold"], second["cold"]) == (True, False)


# ---- every error case: status and the full envelope -------------------------------------


def test_unknown_model_is_404(client: TestClient) -> None:
    response = client.post(URL, json={"input": "x", "model": "text-embedding-ada-002"})
    assert response.status_code == 404
    assert_common_headers(response)
    assert response.json() == envelope(
        "The model `text-embedding-ada-002` does not exist or you do not have access to it.",
        "model",
        "model_not_found",
    )


def test_validation_errors_are_400_not_422(client: TestClient) -> None:
    response = client.post(URL, json={"input": [], "model": ALIAS})
    assert response.status_code == 400
    assert_common_headers(response)
    assert response.json() == envelope(
        "'$.input' is invalid. Please check the API reference: "
        "https://platform.openai.com/docs/api-reference.",
        "input",
        None,
    )


def test_missing_model(client: TestClient) -> None:
    response = client.post(URL, json={"input": "x"})
    assert response.status_code == 400
    assert response.json() == envelope(
        "Missing required parameter: 'model'.", "model", "missing_required_parameter"
    )


@pytest.mark.parametrize("dimensions", [0, -3, 385, 4096])
def test_dimensions_out_of_range(client: TestClient, embedder: Embedder, dimensions: int) -> None:
    response = client.post(URL, json={"input": "x", "model": ALIAS, "dimensions": dimensions})
    assert response.status_code == 400
    assert response.json() == envelope(
        f"dimensions must be between 1 and {embedder.dimensions} for model "
        f"{embedder.model_id}; got {dimensions}.",
        "dimensions",
        None,
    )


def test_out_of_vocabulary_token_ids_point_langchain_users_at_the_fix(
    client: TestClient, embedder: Embedder
) -> None:
    vocab = embedder.manifest.vocab_size
    response = client.post(URL, json={"input": [[1, 2], [100, vocab + 5]], "model": ALIAS})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "input",
        "invalid_token_id",
    )
    assert f"Input 1 contains token id {vocab + 5}" in error["message"]
    assert "check_embedding_ctx_length=False" in error["message"]


def test_over_long_input_gets_openais_message(
    make_app: Callable[..., FastAPI], embedder: Embedder
) -> None:
    limit = embedder.max_input_tokens
    text = "word " * (limit + 10)
    tokens = len(embedder.tokenizer.encode(text).ids)
    with TestClient(make_app(long_inputs="reject")) as rejecting:
        response = rejecting.post(URL, json={"input": ["ok", text], "model": ALIAS})
    assert response.status_code == 400
    assert "x-truncated-inputs" not in response.headers
    assert response.json() == envelope(
        f"This model's maximum context length is {limit} tokens, however you requested "
        f"{tokens} tokens ({tokens} in your prompt; 0 for the completion). Please reduce your "
        "prompt; or completion length.",
        "input",
        "context_length_exceeded",
    )


def test_truncation_setting_counts_truncated_inputs(
    make_app: Callable[..., FastAPI], embedder: Embedder
) -> None:
    limit = embedder.max_input_tokens
    with TestClient(make_app(truncate_inputs=True)) as truncating:
        response = truncating.post(
            URL, json={"input": ["ok", "word " * (limit + 10), "x " * 999], "model": ALIAS}
        )
    assert response.status_code == 200
    assert response.headers["x-truncated-inputs"] == "2"
    assert response.json()["usage"]["prompt_tokens"] == 3 + 2 * limit


def test_request_token_limit(make_app: Callable[..., FastAPI], embedder: Embedder) -> None:
    texts = ["one two three four five", "six seven"]
    tokens = embedder.embed(texts).total_tokens
    with TestClient(make_app(max_request_tokens=tokens - 1)) as small:
        response = small.post(URL, json={"input": texts, "model": ALIAS})
        at_limit = TestClient(make_app(max_request_tokens=tokens)).post(
            URL, json={"input": texts, "model": ALIAS}
        )
    assert response.status_code == 400
    assert response.json() == envelope(
        f"Requested {tokens} tokens, max {tokens - 1} tokens per request",
        "input",
        "max_tokens_per_request",
    )
    assert at_limit.status_code == 200


def test_too_many_inputs(client: TestClient) -> None:
    response = client.post(URL, json={"input": ["x"] * 2049, "model": ALIAS})
    assert response.status_code == 400
    assert response.json() == envelope(
        "'$.input' has 2049 items; at most 2048 inputs are allowed per request.", "input", None
    )


def test_malformed_json(client: TestClient) -> None:
    response = client.post(
        URL, content=b'{"input": "x",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert_common_headers(response)
    assert response.json()["error"]["message"].startswith(
        "We could not parse the JSON body of your request."
    )
    assert response.json()["error"]["param"] is None


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post(
        URL,
        content=b"input=x&model=y",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert_common_headers(response)
    assert response.json() == envelope(
        "Unsupported Content-Type 'application/x-www-form-urlencoded': send the request body as "
        "JSON with 'Content-Type: application/json'.",
        None,
        "unsupported_media_type",
    )


def test_unknown_route_is_404(client: TestClient) -> None:
    response = client.post("/v1/embedding", json={})
    assert response.status_code == 404
    assert_common_headers(response)
    assert response.json() == envelope("Invalid URL (POST /v1/embedding)", None, "unknown_url")


def test_wrong_method_is_405(client: TestClient) -> None:
    response = client.get(URL)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert_common_headers(response)
    assert response.json() == envelope(
        "Method GET is not allowed for /v1/embeddings; allowed: POST.", None, "method_not_allowed"
    )


def test_oversized_body_is_413(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(max_body_bytes=2048)) as small:
        response = small.post(URL, json={"input": ["x" * 1000] * 3, "model": ALIAS})
    assert response.status_code == 413
    assert_common_headers(response)
    size = int(response.request.headers["content-length"])
    assert response.json() == envelope(
        f"The request body ({size} bytes) exceeds the limit of 2048 bytes. Send fewer or "
        "shorter inputs per request.",
        None,
        "request_too_large",
    )


@pytest.mark.parametrize(
    ("path", "advice"),
    [
        ("/v1/uploads/upload_x/parts", "part_size=4 * 1024 * 1024"),
        ("/v1/files", "through the Uploads API (/v1/uploads)"),
    ],
)
def test_an_oversized_file_body_is_told_how_to_send_it(
    make_app: Callable[..., FastAPI], path: str, advice: str
) -> None:
    with TestClient(make_app(max_body_bytes=2048)) as small:
        response = small.post(path, files={"data": ("part", b"x" * 4096)})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and advice in error["message"]


def test_response_over_the_lambda_limit_is_413(make_app: Callable[..., FastAPI]) -> None:
    request = {"input": [f"text number {i}" for i in range(10)], "model": ALIAS}
    with TestClient(make_app(max_response_bytes=40_000)) as small:
        response = small.post(URL, json=request, headers={"accept-encoding": "identity"})
        gzipped = small.post(URL, json=request, headers={"accept-encoding": "gzip"})
        as_base64 = small.post(
            URL,
            json={**request, "encoding_format": "base64"},
            headers={"accept-encoding": "identity"},
        )
    assert (gzipped.status_code, as_base64.status_code) == (200, 200)  # the advice works
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "input",
        "response_too_large",
    )
    assert "encoding_format='base64'" in error["message"]


class BrokenRecorder:
    def record(self, usage: object) -> None:
        raise RuntimeError("secret internals: table arn:aws:dynamodb:...")


def test_unexpected_error_is_500_with_request_id_and_no_internals(
    make_app: Callable[..., FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(recorder=BrokenRecorder())
    with TestClient(app, raise_server_exceptions=False) as broken:
        response = broken.post(URL, json={"input": "x", "model": ALIAS})
    assert response.status_code == 500
    assert_common_headers(response)
    request_id = response.headers["x-request-id"]
    assert response.json() == envelope(
        "The server had an error while processing your request. Sorry about that! "
        f"Quote request id {request_id} if you report it.",
        None,
        None,
        type="server_error",
    )
    assert "secret" not in response.text
    assert any(request_id in r.getMessage() for r in caplog.records)  # logged for operators


def test_gzip_of_error_is_not_needed_but_headers_are_present(client: TestClient) -> None:
    response = client.post(
        URL, json={"input": "", "model": ALIAS}, headers={"accept-encoding": "gzip"}
    )
    assert "content-encoding" not in response.headers
    assert gzip is not None and response.status_code == 400


def test_oversized_body_without_content_length_is_413(make_app: Callable[..., FastAPI]) -> None:
    def chunks() -> Any:
        yield b'{"model": "' + ALIAS.encode() + b'", "input": ["'
        for _ in range(10):
            yield b"x" * 500
        yield b'"]}'

    with TestClient(make_app(max_body_bytes=2048)) as small:
        response = small.post(URL, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert_common_headers(response)
