"""Functional: several models in one deployment (handler/embeddings/models.py).

GIVEN an app built from Settings naming the default int8 model and its exact fp32 twin
WHEN requests name either (by id or alias), list the models, or ask /health
THEN each request runs the model it names, the second model loads on its first request only,
usage and metrics carry the model served, and an unknown model is OpenAI's 404.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from handler_support import ALIAS, ListRecorder
from starlette.testclient import TestClient

from handler.artifact import ArtifactError
from handler.embedder import Embedder, load_embedder
from handler.embeddings.models import ServedModels
from handler.factory import create_app
from handler.metrics import EmfSink
from handler.settings import ModelSource, Settings

pytestmark = pytest.mark.functional
URL = "/v1/embeddings"
TEXTS = ["The cat sat on the mat.", "Serverless embeddings, two models in one function."]


@pytest.fixture(scope="module")
def two_models(model_dir: Path, fp32_model_dir: Path) -> Settings:
    return Settings(
        models=(
            ModelSource("all-MiniLM-L6-v2", model_dir, (ALIAS,)),
            ModelSource("all-MiniLM-L6-v2-fp32", fp32_model_dir, ("exact",)),
        ),
        onnx_threads=2,
        auth_enabled=False,
        metrics_enabled=False,
    )


class CountingLoader:
    def __init__(self) -> None:
        self.loaded: list[Path] = []
        self.lock = threading.Lock()

    def __call__(self, directory: Path) -> Embedder:
        with self.lock:
            self.loaded.append(directory)
        return load_embedder(directory, threads=2)


@pytest.fixture
def loader() -> CountingLoader:
    return CountingLoader()


@pytest.fixture
def served(two_models: Settings, loader: CountingLoader) -> ServedModels:
    return ServedModels.from_settings(two_models, loader)


@pytest.fixture
def client(two_models: Settings, served: ServedModels) -> Iterator[TestClient]:
    with TestClient(create_app(two_models, served, recorder=ListRecorder())) as test_client:
        yield test_client


def vectors(response_json: dict[str, object]) -> np.ndarray:
    data = response_json["data"]
    assert isinstance(data, list)
    return np.array([item["embedding"] for item in data], dtype=np.float32)


def test_the_default_loads_at_init_the_other_on_its_first_request(
    served: ServedModels, loader: CountingLoader, client: TestClient, fp32_model_dir: Path
) -> None:
    assert [m.id for m in served.models] == ["all-MiniLM-L6-v2", "all-MiniLM-L6-v2-fp32"]
    assert len(loader.loaded) == 1 and not served.is_loaded("all-MiniLM-L6-v2-fp32")
    health = client.get("/health").json()
    assert [(m["model"], m["loaded"]) for m in health["models"]] == [
        ("all-MiniLM-L6-v2", True),
        ("all-MiniLM-L6-v2-fp32", False),
    ]
    answer = client.post(URL, json={"input": TEXTS, "model": "exact"})
    assert answer.status_code == 200
    assert answer.json()["model"] == "all-MiniLM-L6-v2-fp32"
    assert loader.loaded[1:] == [fp32_model_dir]
    client.post(URL, json={"input": TEXTS, "model": "all-MiniLM-L6-v2-fp32"})
    assert len(loader.loaded) == 2  # loaded once
    assert client.get("/health").json()["models"][1]["loaded"] is True


def test_each_request_runs_the_model_it_names(
    client: TestClient, embedder: Embedder, fp32_model_dir: Path
) -> None:
    int8 = client.post(URL, json={"input": TEXTS, "model": ALIAS}).json()
    fp32 = client.post(URL, json={"input": TEXTS, "model": "exact"}).json()
    assert int8["model"] == "all-MiniLM-L6-v2"
    assert np.array_equal(vectors(int8), embedder.embed(TEXTS).vectors)
    alone = load_embedder(fp32_model_dir, threads=1).embed(TEXTS).vectors
    assert np.array_equal(vectors(fp32), alone)
    assert not np.array_equal(vectors(fp32), vectors(int8))  # really another artifact
    cosines = (vectors(fp32) * vectors(int8)).sum(axis=1)
    assert cosines.min() > 0.99  # the same weights
    assert int8["usage"] == fp32["usage"]  # one tokenizer


def test_models_lists_every_name_and_retrieves_each(client: TestClient) -> None:
    listed = client.get("/v1/models").json()["data"]
    assert [(m["id"], m["served_as"]) for m in listed] == [
        ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
        (ALIAS, "all-MiniLM-L6-v2"),
        ("all-MiniLM-L6-v2-fp32", "all-MiniLM-L6-v2-fp32"),
        ("exact", "all-MiniLM-L6-v2-fp32"),
    ]
    assert client.get("/v1/models/exact").json()["served_as"] == "all-MiniLM-L6-v2-fp32"
    missing = client.post(URL, json={"input": "x", "model": "all-MiniLM-L6-v2-int4"})
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "message": "The model `all-MiniLM-L6-v2-int4` does not exist or you do not have "
        "access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_usage_records_the_model_served_and_the_name_asked(
    two_models: Settings, served: ServedModels
) -> None:
    recorder = ListRecorder()
    with TestClient(create_app(two_models, served, recorder=recorder)) as client:
        client.post(URL, json={"input": TEXTS, "model": "exact"})
        client.post(URL, json={"input": TEXTS, "model": ALIAS})
    assert [(r.model, r.requested_model) for r in recorder.records] == [
        ("all-MiniLM-L6-v2-fp32", "exact"),
        ("all-MiniLM-L6-v2", ALIAS),
    ]


def test_metrics_name_a_model_other_than_the_default(
    two_models: Settings, served: ServedModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("handler.factory.emf_sinks", lambda settings: [EmfSink("NS", stream)])
    with TestClient(create_app(two_models, served)) as client:
        client.post(URL, json={"input": TEXTS, "model": ALIAS})
        client.post(URL, json={"input": TEXTS, "model": "exact"})
    default_line, fp32_line = (json.loads(line) for line in stream.getvalue().splitlines())
    assert default_line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["route"]]
    assert "model" not in default_line  # the default model's line is as short as before
    assert fp32_line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["route"],
        ["route", "model"],
    ]
    assert (fp32_line["route"], fp32_line["model"]) == ("/v1/embeddings", "all-MiniLM-L6-v2-fp32")


def test_concurrent_first_requests_load_the_model_once(
    served: ServedModels, loader: CountingLoader
) -> None:
    barrier = threading.Barrier(4)
    got: list[Embedder] = []

    def first_use() -> None:
        barrier.wait()
        got.append(served.embedder("all-MiniLM-L6-v2-fp32"))

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loader.loaded) == 2  # the default at init, the fp32 once
    assert len({id(e) for e in got}) == 1


def test_eager_loading_loads_every_model_at_init(
    two_models: Settings, loader: CountingLoader
) -> None:
    from dataclasses import replace

    served = ServedModels.from_settings(replace(two_models, model_loading="eager"), loader)
    assert len(loader.loaded) == 2
    assert all(served.is_loaded(m.id) for m in served.models)


def test_a_model_served_under_another_id_fails_the_cold_start(
    two_models: Settings, fp32_model_dir: Path
) -> None:
    from dataclasses import replace

    wrong = replace(two_models, models=(ModelSource("bge-small-en", fp32_model_dir),))
    with pytest.raises(ArtifactError, match="holds 'all-MiniLM-L6-v2-fp32'.*'bge-small-en'"):
        ServedModels.from_settings(wrong)


def test_a_missing_layer_fails_the_cold_start(two_models: Settings, tmp_path: Path) -> None:
    from dataclasses import replace

    gone = ModelSource("all-MiniLM-L6-v2-fp32", tmp_path / "models" / "absent")
    settings = replace(two_models, models=(two_models.models[0], gone))
    with pytest.raises(ArtifactError, match="no manifest.json in .*absent"):
        ServedModels.from_settings(settings)


def test_models_from_the_environment(model_dir: Path, fp32_model_dir: Path) -> None:
    env = {
        "MODELS": json.dumps(
            [
                {"id": "all-MiniLM-L6-v2", "dir": str(model_dir), "aliases": [ALIAS]},
                {"id": "all-MiniLM-L6-v2-fp32", "dir": str(fp32_model_dir)},
            ]
        )
    }
    settings = Settings.from_env(env)
    assert [s.id for s in settings.model_sources] == ["all-MiniLM-L6-v2", "all-MiniLM-L6-v2-fp32"]
    assert settings.model_sources[0].aliases == (ALIAS,)


def test_batch_lines_each_run_the_model_they_name(
    two_models: Settings, served: ServedModels, client: TestClient
) -> None:
    from handler.batch.lines import PreparedLine, embed_lines, prepare_line

    names = ["exact", ALIAS, "all-MiniLM-L6-v2-fp32", "text-embedding-4-large"]
    prepared = [
        prepare_line(
            orjson.dumps(
                {
                    "custom_id": f"c{i}",
                    "method": "POST",
                    "url": URL,
                    "body": {"input": TEXTS[i % 2], "model": name, "input_type": "query"},
                }
            ),
            i,
            "batch_m",
            URL,
            served,
            two_models,
        )
        for i, name in enumerate(names)
    ]
    ready = [p for p in prepared if isinstance(p, PreparedLine)]
    assert len(ready) == 3  # the unknown model is the line's 404
    refused = json.loads(prepared[3].line)  # type: ignore[union-attr]
    assert refused["response"]["status_code"] == 404
    answered = embed_lines(ready, "batch_m")  # one group mixing both models, in line order
    for line, result in zip(ready, answered, strict=True):
        body = json.loads(result.line)["response"]["body"]
        sync = client.post(
            URL, json={"input": TEXTS[line.line_no % 2], "model": names[line.line_no]}
        )
        assert body["model"] == sync.json()["model"]
        assert body["data"][0]["embedding"] == sync.json()["data"][0]["embedding"]
