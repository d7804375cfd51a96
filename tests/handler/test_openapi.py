"""Functional: /openapi.json publishes the embeddings route as OpenAI's spec describes it, and
real responses validate against the published response model."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from handler_support import ALIAS
from starlette.testclient import TestClient

from handler.embeddings.prompts import INPUT_TYPES
from handler.response_models import CreateEmbeddingResponse

pytestmark = pytest.mark.functional
OPENAI = json.loads(
    (Path(__file__).parent / "fixtures" / "openai_create_embedding.json").read_text()
)


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def shapes(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """A union's members as comparable strings ('string', 'array<string>', ...)."""
    schema = resolve(document, schema)
    members = schema.get("anyOf") or schema.get("oneOf")
    if members:
        return set().union(*(shapes(document, member) for member in members))
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1 ["string", "null"]
        return {str(k) for k in kind}
    if kind == "array":
        return {f"array<{'|'.join(sorted(shapes(document, schema['items'])))}>"}
    return {str(kind)}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    published: dict[str, Any] = response.json()
    return published


def test_request_schema_matches_openai(document: dict[str, Any]) -> None:
    ours = resolve(
        document,
        document["paths"]["/v1/embeddings"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ],
    )
    theirs = OPENAI["requestBody"]["content"]["application/json"]["schema"]
    assert set(ours["required"]) == set(theirs["required"]) == {"input", "model"}
    # OpenAI's fields, plus input_type (NVIDIA's and Cohere's: handler/prompts.py)
    assert set(ours["properties"]) == set(theirs["properties"]) | {"input_type"}
    for name in theirs["properties"]:
        assert shapes(document, ours["properties"][name]) == shapes(
            OPENAI, theirs["properties"][name]
        ), name
    input_type = resolve(document, ours["properties"]["input_type"])
    values = {v for member in input_type.get("anyOf", [input_type]) for v in member.get("enum", [])}
    assert values == set(INPUT_TYPES)
    encoding = resolve(document, ours["properties"]["encoding_format"])
    enums = {v for member in encoding.get("anyOf", [encoding]) for v in member.get("enum", [])}
    assert enums == {"float", "base64"}


def test_response_schema_matches_openai(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/embeddings"]["post"]
    ours = resolve(document, operation["responses"]["200"]["content"]["application/json"]["schema"])
    theirs = OPENAI["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(ours["required"]) == set(theirs["required"])
    assert set(ours["properties"]) == set(theirs["properties"])
    item = resolve(document, ours["properties"]["data"]["items"])
    their_item = theirs["properties"]["data"]["items"]
    assert set(item["required"]) == set(their_item["required"])
    assert shapes(document, item["properties"]["embedding"]) == shapes(
        OPENAI, their_item["properties"]["embedding"]
    )
    usage = resolve(document, ours["properties"]["usage"])
    assert set(usage["required"]) == set(theirs["properties"]["usage"]["required"])
    assert (
        "ErrorResponse"
        in operation["responses"]["default"]["content"]["application/json"]["schema"]["$ref"]
    )
    assert document["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_real_responses_validate_against_the_published_model(
    client: TestClient, encoding_format: str
) -> None:
    response = client.post(
        "/v1/embeddings",
        json={"input": ["one", "two words"], "model": ALIAS, "encoding_format": encoding_format},
    )
    assert response.status_code == 200
    parsed = CreateEmbeddingResponse.model_validate_json(response.content)
    assert [item.index for item in parsed.data] == [0, 1]
    first = parsed.data[0].embedding
    width = len(first) if isinstance(first, list) else len(base64.b64decode(first)) // 4
    assert width == 384
    assert parsed.usage.prompt_tokens == parsed.usage.total_tokens > 0


def test_the_response_models_stay_out_of_the_cold_start() -> None:
    import subprocess
    import sys

    probe = "import sys, handler.factory; print('handler.response_models' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
