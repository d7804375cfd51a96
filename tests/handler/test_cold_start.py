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
    return run_script(FIRST_EVENT, model_dir, *events, **env)


def run_script(
    script: str, model_dir: Path | str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        **NO_AWS,
        "PYTHONPATH": str(REPO),
        "MODEL_DIR": str(model_dir),
        "AUTH_ENABLED": "false",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", script, *args],
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


# What a cold start built, then the OpenAPI document. "eager" imports fastapi before the app,
# as a tool or test would, so handler/framework.py cannot defer its models' builds.
WHAT_WAS_BUILT = """
import json, sys
if sys.argv[1:] == ["eager"]:
    import fastapi
from pydantic._internal._config import config_defaults
from starlette.testclient import TestClient
from handler import app as deployed, framework
import fastapi.openapi.models as openapi_models
from handler.embedding_request import CreateEmbeddingRequest
queue_client = deployed.usage.recorder.queue.client
queue_client_built_at_import = queue_client.built
response = deployed.handler(json.load(open("events/http-api-v2-embeddings.json")), None)
built = {
    "status": response["statusCode"],
    "deferred": framework.DEFERRED,
    "fastapi_models_built": openapi_models.OpenAPI.__pydantic_complete__,
    "our_models_built": CreateEmbeddingRequest.__pydantic_complete__,
    "defer_build_default": config_defaults.get("defer_build", False),
    "queue_client_built_at_import": queue_client_built_at_import,
    "queue_client_built_after": queue_client.built,
}
document = TestClient(deployed.app).get("/openapi.json")
built["document_status"] = document.status_code
built["fastapi_models_built_after"] = openapi_models.OpenAPI.__pydantic_complete__
print(json.dumps(built))
print(document.text)
"""


def what_was_built(model_dir: Path, *args: str) -> tuple[dict[str, object], str]:
    result = run_script(
        WHAT_WAS_BUILT,
        model_dir,
        *args,
        USAGE_FALLBACK_QUEUE_URL="http://127.0.0.1:9/usage-fallback",  # as template.yaml sets one
    )
    assert result.returncode == 0, result.stderr
    built, document = result.stdout.splitlines()[-2:]
    return json.loads(built), document


def test_cold_start_defers_fastapi_models_and_the_queue_client(model_dir: Path) -> None:
    # GIVEN a fresh process: WHEN it imports handler.app and answers its first event
    built, _ = what_was_built(model_dir)
    assert built["status"] == 200
    # THEN FastAPI's OpenAPI models were defined but not built (handler/framework.py), ours
    # were, and pydantic's default is back to eager
    assert built["deferred"] is True
    assert built["fastapi_models_built"] is False
    assert built["our_models_built"] is True
    assert built["defer_build_default"] is False
    # AND the fallback queue's client was not built at import; the first record, which
    # DynamoDB refused here (NO_AWS: a closed port), built it to try the queue
    assert built["queue_client_built_at_import"] is False
    assert built["queue_client_built_after"] is True
    # AND /openapi.json builds them on its request
    assert built["document_status"] == 200
    assert built["fastapi_models_built_after"] is True


def test_openapi_document_is_the_same_whether_fastapi_models_were_deferred(
    model_dir: Path,
) -> None:
    deferred, document = what_was_built(model_dir)
    eager, eager_document = what_was_built(model_dir, "eager")
    assert (deferred["deferred"], eager["deferred"]) == (True, False)
    assert eager["fastapi_models_built"] is True
    assert document == eager_document
