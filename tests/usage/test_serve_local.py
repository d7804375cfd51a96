"""`make serve`'s setup: DynamoDB Local with the tables and the dev key, or moto without Java."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from handler.settings import Settings
from handler.usage import store
from handler.usage.keys import KeyStore
from tools import serve_local
from tools.dynamodb_local import free_port


def dev_key_works() -> bool:
    client = store.make_client("dynamodb", store.client_config(1, 2, 2))
    key = KeyStore(client, "embeddings-keys").lookup(serve_local.DEV_KEY)
    return key is not None and key.active and key.limits.rpm == serve_local.DEV_LIMITS["rpm"]


@pytest.mark.integration
def test_serve_setup_on_dynamodb_local(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEYS_TABLE", "USAGE_TABLE"):
        monkeypatch.delenv(name, raising=False)
    with ExitStack() as stack:
        stack.callback(monkeypatch.delenv, "AWS_ENDPOINT_URL_DYNAMODB", raising=False)
        where = serve_local.start_dynamodb(stack, free_port())
        assert where.startswith("DynamoDB Local at http://127.0.0.1:")
        serve_local.seed({})
        serve_local.seed({})  # a second seed finds the tables and the key already there
        assert dev_key_works()


@pytest.mark.unit
def test_serve_setup_without_java_warns_and_uses_moto(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(serve_local, "java_available", lambda: False)
    with ExitStack() as stack:
        assert "moto" in serve_local.start_dynamodb(stack, free_port())
        serve_local.seed({})
        assert dev_key_works()
    assert "WARNING: java not found" in capsys.readouterr().err


@pytest.mark.unit
def test_serve_serves_the_default_and_every_built_model(
    model_dir: Path, fp32_model_dir: Path
) -> None:
    env = {"MODEL_DIR": str(model_dir), "MODELS_DIR": str(fp32_model_dir.parent)}
    served = Settings.from_env({"MODELS": serve_local.models_setting(env)}).model_sources
    assert [(m.id, m.directory) for m in served] == [
        ("all-MiniLM-L6-v2", model_dir),
        ("all-MiniLM-L6-v2-fp32", fp32_model_dir),
    ]
    assert served[0].aliases == tuple(serve_local.DEFAULT_ALIASES.split(","))
