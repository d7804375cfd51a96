"""Integration: a fresh process imports handler.app (settings + model at import) and answers
its first API Gateway event; a bad deployment fails that import with a clear reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

FIRST_EVENT = """
import json, sys
from handler.app import handler
for name in sys.argv[1:]:
    event = json.load(open("events/" + name))
    response = handler(event, None)
    print(json.dumps({"status": response["statusCode"], "headers": response["headers"],
                      "body": json.loads(response["body"])}))
"""


# Keys are off here; any usage write the app still attempts goes to a closed loopback port
# (refused at once) rather than to AWS.
NO_AWS = {
    "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
    "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:9",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}


def run(model_dir: Path | str, *events: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        **NO_AWS,
        "PYTHONPATH": str(REPO),
        "MODEL_DIR": str(model_dir),
        "AUTH_ENABLED": "false",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", FIRST_EVENT, *events],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def answers(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"status"')]


def test_fresh_process_answers_its_first_events(model_dir: Path) -> None:
    result = run(model_dir, "http-api-v2-health.json", "http-api-v2-embeddings.json")
    assert result.returncode == 0, result.stderr
    health, embeddings = answers(result)
    assert health["status"] == 200
    assert health["body"]["cold"] is True  # type: ignore[index]
    assert embeddings["status"] == 200
    assert embeddings["headers"]["x-request-id"] == "Vh4wkjU3IAMEJ5A="  # type: ignore[index]
    assert len(embeddings["body"]["data"]) == 1  # type: ignore[index]


def test_missing_artifact_fails_the_cold_start_clearly(tmp_path: Path) -> None:
    result = run(tmp_path, "http-api-v2-health.json")
    assert result.returncode != 0
    assert "ArtifactError" in result.stderr
    assert "make model" in result.stderr


def test_corrupted_artifact_fails_the_cold_start(model_dir: Path, tmp_path: Path) -> None:
    for name in ("manifest.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    (tmp_path / "model.onnx").write_bytes(b"not the model")
    result = run(tmp_path, "http-api-v2-health.json")
    assert result.returncode != 0
    assert "does not match the manifest" in result.stderr


def test_bad_setting_fails_the_cold_start_naming_the_variable(model_dir: Path) -> None:
    result = run(model_dir, "http-api-v2-health.json", TRUNCATE_INPUTS="sometimes")
    assert result.returncode != 0
    assert "SettingsError" in result.stderr
    assert "TRUNCATE_INPUTS='sometimes'" in result.stderr


def test_model_verify_off_skips_the_hash_check(model_dir: Path, tmp_path: Path) -> None:
    # GIVEN an artifact whose model.onnx is not the one the manifest hashed
    for name in ("manifest.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    (tmp_path / "model.onnx").write_bytes(b"not the model")
    # WHEN the deployment turns the cold-start check off (template.yaml does: sam build checked)
    result = run(tmp_path, "http-api-v2-health.json", MODEL_VERIFY="false")
    # THEN no sha256 is compared; the bad file still fails the cold start, in ONNX Runtime
    assert result.returncode != 0
    assert "does not match the manifest" not in result.stderr
    assert "onnxruntime" in result.stderr.lower() or "INVALID_PROTOBUF" in result.stderr
