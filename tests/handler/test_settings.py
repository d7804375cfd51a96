"""Unit: Settings.from_env reads each variable once and fails clearly on bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from handler.settings import Settings, SettingsError, onnx_threads_for

pytestmark = pytest.mark.unit


def test_defaults_match_openai_limits_and_lambda() -> None:
    settings = Settings.from_env({})
    assert settings.model_dir == Path("/opt/model")
    assert (settings.max_inputs, settings.max_request_tokens) == (2048, 300_000)
    assert settings.truncate_inputs is False
    assert settings.long_input_mode == "pool"
    assert settings.auth_enabled is True
    assert settings.max_response_bytes < 6_291_556


def test_values_from_env() -> None:
    settings = Settings.from_env(
        {
            "MODEL_DIR": "build/model",
            "MODEL_ALIASES": "text-embedding-3-small, text-embedding-ada-002,,",
            "TRUNCATE_INPUTS": "true",
            "AUTH_ENABLED": "0",
            "API_BASE_PATH": "/embeddings",
        }
    )
    assert settings.model_dir == Path("build/model")
    assert settings.model_aliases == ("text-embedding-3-small", "text-embedding-ada-002")
    assert settings.truncate_inputs is True
    assert settings.auth_enabled is False
    assert settings.api_base_path == "/embeddings"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRUNCATE_INPUTS", "maybe"),
        ("MAX_INPUTS_PER_REQUEST", "lots"),
        ("BATCH_SIZE", "0"),
        ("ORT_THREADS", "-2"),
        ("MODEL_ALIASES", "a b"),
        ("API_BASE_PATH", "embeddings"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.max_inputs = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("memory", "threads"), [("1769", 1), ("3538", 2), ("1024", 1), ("10240", 2)]
)
def test_threads_follow_lambda_memory(
    memory: str, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert onnx_threads_for({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory}) == threads


def test_explicit_threads_win() -> None:
    assert onnx_threads_for({"ORT_THREADS": "3", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}) == 3


def test_each_variable_is_named_once_beside_its_field() -> None:
    from dataclasses import fields

    variables = [f.metadata["env"].name for f in fields(Settings) if "env" in f.metadata]
    assert len(variables) == len(set(variables))
    # every field but none is read from the environment
    assert len(variables) == len(fields(Settings))
    assert Settings.from_env({}) == Settings()
