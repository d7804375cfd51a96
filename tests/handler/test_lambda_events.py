"""Functional: the Mangum handler with API Gateway events from events/ (REST v1, HTTP API v2)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest

from handler.embedder import Embedder
from tests.handler.handler_support import load_event

pytestmark = pytest.mark.functional
LAMBDA_RESPONSE_LIMIT = 6_291_556
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def body_of(response: dict[str, Any]) -> Any:
    raw = response["body"]
    if response["isBase64Encoded"]:
        data = base64.b64decode(raw)
        headers = {k.lower(): v for k, v in response["headers"].items()}
        if headers.get("content-encoding") == "gzip":
            data = gzip.decompress(data)
        return orjson.loads(data)
    return orjson.loads(raw)


def request_body(event: dict[str, Any]) -> dict[str, Any]:
    raw = event["body"]
    parsed: dict[str, Any] = json.loads(base64.b64decode(raw) if event["isBase64Encoded"] else raw)
    return parsed


def with_body(
    event: dict[str, Any], body: dict[str, Any] | bytes, b64: bool = True
) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    event["body"] = base64.b64encode(raw).decode() if b64 else raw.decode()
    event["isBase64Encoded"] = b64
    return event


def test_http_api_v2_with_a_base64_body(
    lambda_handler: Callable[..., Handler], embedder: Embedder
) -> None:
    event = load_event("http-api-v2-embeddings.json")
    assert event["isBase64Encoded"] is True  # as `sam local generate-event` makes it
    response = lambda_handler()(event, None)
    assert response["statusCode"] == 200
    assert response["headers"]["x-request-id"] == event["requestContext"]["requestId"]
    assert int(response["headers"]["openai-processing-ms"]) >= 0
    assert response["isBase64Encoded"] is False  # JSON text goes out as text
    body = body_of(response)
    expected = embedder.embed([request_body(event)["input"]])
    assert body["usage"]["prompt_tokens"] == expected.total_tokens
    vector = np.array(body["data"][0]["embedding"], dtype=np.float32)
    assert float(vector @ expected.vectors[0]) >= 0.9999


def test_http_api_v2_named_stage_base64_batch(
    lambda_handler: Callable[..., Handler], embedder: Embedder
) -> None:
    event = load_event("http-api-v2-stage-batch.json")
    assert event["rawPath"].startswith("/prod/")
    request = request_body(event)
    response = lambda_handler()(event, None)
    assert response["statusCode"] == 200
    body = body_of(response)
    assert [d["index"] for d in body["data"]] == list(range(len(request["input"])))
    full = embedder.embed(request["input"]).vectors[:, : request["dimensions"]]
    full /= np.linalg.norm(full, axis=1, keepdims=True)
    for item, expected in zip(body["data"], full, strict=True):
        vector = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
        assert vector.shape == (request["dimensions"],)
        assert float(vector @ expected) >= 0.9999


def test_http_api_v2_health_reports_a_cold_then_warm_container(
    lambda_handler: Callable[..., Handler], embedder: Embedder
) -> None:
    handler = lambda_handler()
    first = handler(load_event("http-api-v2-health.json"), None)
    second = handler(load_event("http-api-v2-health.json"), None)
    assert first["statusCode"] == 200
    assert (body_of(first)["cold"], body_of(second)["cold"]) == (True, False)
    assert body_of(first)["artifact_sha"] == embedder.artifact_sha


def test_rest_api_v1_with_stage_and_gzip(
    lambda_handler: Callable[..., Handler], embedder: Embedder
) -> None:
    event = load_event("rest-api-v1-embeddings.json")
    assert event["requestContext"]["path"].startswith("/Prod/")
    response = lambda_handler()(event, None)
    assert response["statusCode"] == 200
    assert response["headers"]["x-request-id"] == event["requestContext"]["requestId"]
    assert response["headers"]["content-encoding"] == "gzip"  # the event accepts gzip
    assert response["isBase64Encoded"] is True  # so API Gateway sends binary
    body = body_of(response)
    assert body["model"] == embedder.model_id  # answered under the served id, not the alias
    assert len(body["data"]) == len(request_body(event)["input"])


def test_rest_api_v1_behind_a_custom_domain_base_path(
    lambda_handler: Callable[..., Handler], embedder: Embedder
) -> None:
    event = load_event("rest-api-v1-base-path-models.json")
    response = lambda_handler(api_base_path="/embeddings")(event, None)
    assert response["statusCode"] == 200
    assert body_of(response)["data"][0]["id"] == embedder.model_id
    unmapped = lambda_handler()(load_event("rest-api-v1-base-path-models.json"), None)
    assert unmapped["statusCode"] == 404
    assert body_of(unmapped)["error"]["message"] == "Invalid URL (GET /embeddings/v1/models)"


def test_errors_come_back_in_the_envelope_through_lambda(
    lambda_handler: Callable[..., Handler],
) -> None:
    handler = lambda_handler()
    bad_json = handler(with_body(load_event("http-api-v2-embeddings.json"), b"{oops"), None)
    assert bad_json["statusCode"] == 400
    assert bad_json["headers"]["content-type"] == "application/json"
    assert body_of(bad_json)["error"]["type"] == "invalid_request_error"
    event = load_event("http-api-v2-embeddings.json")
    event["requestContext"]["http"]["method"] = "PUT"
    wrong_method = handler(event, None)
    assert wrong_method["statusCode"] == 405
    assert body_of(wrong_method)["error"]["code"] == "method_not_allowed"
    assert wrong_method["headers"]["x-request-id"] == event["requestContext"]["requestId"]


def test_a_full_float_batch_fits_lambda_only_gzipped(
    lambda_handler: Callable[..., Handler], embedder: Embedder
) -> None:
    # 2048 inputs x 384 floats is ~8.6 MB of JSON: a 413 in the envelope without gzip, a
    # response under Lambda's 6 MB payload limit (base64 included) with it.
    texts = [f"sentence number {i} about topic {i % 17}" for i in range(2048)]
    handler = lambda_handler()
    event = with_body(
        load_event("http-api-v2-embeddings.json"),
        {"input": texts, "model": embedder.model_id, "encoding_format": "float"},
    )
    plain = handler(event, None)
    assert plain["statusCode"] == 413
    assert body_of(plain)["error"]["code"] == "response_too_large"
    event["headers"]["accept-encoding"] = "gzip, deflate"
    zipped = handler(event, None)
    assert zipped["statusCode"] == 200
    assert len(json.dumps(zipped)) <= LAMBDA_RESPONSE_LIMIT
    assert len(body_of(zipped)["data"]) == 2048
