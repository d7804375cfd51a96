"""Functional: `input_type` selects the model's prompt (handler/embeddings/prompts.py).

The prompted artifact is the default model's files with a manifest whose `prompts` section
the build's own reader (model_artifacts.st_config.read_source) took from a
sentence-transformers directory declaring prompts, as `make model SOURCE=...` records it:
the weights are the same, so "query: " + text sent without input_type to the default model
is the exact reference for text sent with input_type=query to the prompted one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from handler_support import ALIAS, ListRecorder
from starlette.testclient import TestClient

from handler.artifact import load_manifest
from handler.embedder import Embedder
from handler.embeddings.models import ServedModels
from handler.embeddings.prompts import INPUT_TYPES
from handler.factory import create_app
from handler.settings import ModelSource, Settings
from model_artifacts.st_config import read_source

pytestmark = pytest.mark.functional
URL = "/v1/embeddings"
TEXT = "How do I rotate an API key?"
PROMPTS = {"query": "query: ", "document": "passage: ", "clustering": ""}


def st_dir_with_prompts(root: Path, artifact: Path, default: str | None = None) -> Path:
    """A sentence-transformers directory of the default model's shape, declaring prompts."""
    manifest = load_manifest(artifact)
    (root / "1_Pooling").mkdir(parents=True)
    files: dict[str, Any] = {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],  # fmt: skip
        "sentence_bert_config.json": {"max_seq_length": manifest.max_input_tokens},
        "config.json": {
            "model_type": "bert",
            "hidden_size": manifest.dimensions,
            "vocab_size": manifest.vocab_size,
            "max_position_embeddings": 512,
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": manifest.dimensions,
            "pooling_mode_mean_tokens": True,
        },
        "config_sentence_transformers.json": {
            "prompts": PROMPTS,
            "default_prompt_name": default,
        },
    }
    for name, content in files.items():
        (root / name).write_text(json.dumps(content))
    shutil.copy(artifact / "tokenizer.json", root / "tokenizer.json")
    (root / "model.safetensors").write_bytes(b"")
    return root


def prompted_artifact(tmp: Path, artifact: Path, default: str | None = None) -> Path:
    source = read_source(st_dir_with_prompts(tmp / "source", artifact, default))
    out = tmp / "artifact"
    out.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (out / name).symlink_to(artifact / name)
    raw = json.loads((artifact / "manifest.json").read_text())
    raw.update(model_id="prompted-minilm", prompts=source.prompts_section)
    (out / "manifest.json").write_text(json.dumps(raw))
    return out


@pytest.fixture(scope="module")
def prompted(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prompted_artifact(tmp_path_factory.mktemp("prompted"), model_dir)


@pytest.fixture
def recorder() -> ListRecorder:
    return ListRecorder()


@pytest.fixture
def client(
    model_dir: Path, prompted: Path, embedder: Embedder, recorder: ListRecorder
) -> Iterator[TestClient]:
    settings = Settings(
        models=(
            ModelSource("all-MiniLM-L6-v2", model_dir, (ALIAS,)),
            ModelSource("prompted-minilm", prompted),
        ),
        onnx_threads=2,
        auth_enabled=False,
        metrics_enabled=False,
    )
    app = create_app(settings, ServedModels.from_settings(settings), recorder=recorder)
    with TestClient(app) as test_client:
        yield test_client


def embed(client: TestClient, text: Any, model: str, input_type: str | None = None) -> Any:
    body = {"input": text, "model": model, **({"input_type": input_type} if input_type else {})}
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def vector(answer: Any) -> np.ndarray:
    return np.array(answer["data"][0]["embedding"], dtype=np.float32)


@pytest.mark.parametrize(
    ("input_type", "prompt"),
    [
        ("query", "query: "),
        ("search_query", "query: "),
        ("passage", "passage: "),
        ("search_document", "passage: "),
        ("clustering", ""),  # declared empty: no prefix, as sentence-transformers
        ("classification", ""),  # not declared, and no default prompt: none
    ],
)
def test_input_type_puts_the_models_prompt_before_the_text(
    client: TestClient, embedder: Embedder, recorder: ListRecorder, input_type: str, prompt: str
) -> None:
    got = embed(client, TEXT, "prompted-minilm", input_type)
    reference = embed(client, prompt + TEXT, ALIAS)
    assert np.array_equal(vector(got), vector(reference))
    # the prompt's tokens count, tokenized with the text as sentence-transformers does
    tokens = len(embedder.tokenizer.encode(prompt + TEXT).ids)
    assert got["usage"]["prompt_tokens"] == tokens == recorder.records[-1].prompt_tokens


def test_token_ids_get_the_prompts_ids_after_cls(client: TestClient, embedder: Embedder) -> None:
    ids = embedder.tokenizer.encode(TEXT, add_special_tokens=False).ids
    from_ids = embed(client, [ids], "prompted-minilm", "query")
    from_text = embed(client, TEXT, "prompted-minilm", "query")
    assert np.array_equal(vector(from_ids), vector(from_text))
    assert from_ids["usage"] == from_text["usage"]


def test_a_model_without_prompts_accepts_and_ignores_input_type(client: TestClient) -> None:
    plain = embed(client, TEXT, ALIAS)
    for input_type in INPUT_TYPES:
        assert embed(client, TEXT, ALIAS, input_type) == plain
    card = client.get("/v1/models/all-MiniLM-L6-v2").json()["input_type"]
    assert card == {"ignored": True, "accepted": list(INPUT_TYPES)}


def test_models_lists_each_values_prompt(client: TestClient) -> None:
    card = client.get("/v1/models/prompted-minilm").json()["input_type"]
    assert card["ignored"] is False
    assert card["prompts"] == {
        "query": "query",
        "passage": "document",
        "search_query": "query",
        "search_document": "document",
        "classification": None,
        "clustering": "clustering",
    }


def test_an_unknown_input_type_is_a_400_naming_the_accepted_ones(client: TestClient) -> None:
    response = client.post(
        URL, json={"input": TEXT, "model": "prompted-minilm", "input_type": "search"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["type"]) == ("input_type", "invalid_request_error")
    assert all(value in error["message"] for value in INPUT_TYPES)
    assert "'search'" in error["message"]


def test_the_default_prompt_applies_when_no_input_type_is_sent(
    model_dir: Path, tmp_path: Path
) -> None:
    artifact = prompted_artifact(tmp_path, model_dir, default="document")
    settings = Settings(model_dir=artifact, onnx_threads=2, auth_enabled=False)
    with TestClient(create_app(settings, ServedModels.from_settings(settings))) as client:
        unnamed = embed(client, TEXT, "prompted-minilm")
        passage = embed(client, TEXT, "prompted-minilm", "passage")
        query = embed(client, TEXT, "prompted-minilm", "query")
    assert np.array_equal(vector(unnamed), vector(passage))
    assert not np.array_equal(vector(unnamed), vector(query))
