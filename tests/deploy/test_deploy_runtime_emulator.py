"""Integration: the sam-built function in the real Lambda runtime, without Docker.

GIVEN the x86_64 `sam build` output (the host's ABI: cp313 manylinux x86_64 wheels), its two
layers laid out as Lambda extracts them into /opt (in a temp dir, via PYTHONPATH and
MODEL_DIR), and DynamoDB Local holding the tables and a key,
WHEN the Runtime Interface Emulator from the aws-sam-cli wheel runs it through `awslambdaric`
and every events/*.json fixture (plus a GET /v1/usage) is posted to its invocations endpoint,
THEN each answer equals what the in-process handler (service venv, sources) gives for the
same event, usage reached the table through the runtime's own botocore, and the log holds
no error. The emulator's init duration is written to build/deploy/rie-report.json.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from handler.usage import store
from tests.deploy.deploy_support import (
    DEV_KEY,
    EVENTS,
    LAMBDA_RUNTIME,
    REPO,
    FunctionStore,
    RuntimeEmulator,
    built_dir,
    host_arch,
    lay_out_opt,
    response_body,
)

pytestmark = pytest.mark.integration

# Values that differ between two runs by design: timings, and quota counters that every
# admitted request advances (the in-process run comes second).
VOLATILE_HEADERS = {
    "openai-processing-ms",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
}


def usage_event() -> dict[str, Any]:
    """GET /v1/usage, shaped like the HTTP API v2 fixtures (no fixture file carries one)."""
    event: dict[str, Any] = json.loads((EVENTS / "http-api-v2-health.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/usage"
    event["rawQueryString"] = ""
    event["headers"]["authorization"] = f"Bearer {DEV_KEY}"
    event["requestContext"]["requestId"] = "deploy-test-usage"
    return event


@dataclass
class Runs:
    names: list[str]
    events: list[dict[str, Any]]
    emulated: list[dict[str, Any]]
    in_process: list[dict[str, Any]]
    emulator: RuntimeEmulator
    store: FunctionStore


@pytest.fixture(scope="module")
def runs(
    built: Path, function_store: FunctionStore, tmp_path_factory: pytest.TempPathFactory
) -> Runs:
    arch = host_arch()
    tmp = tmp_path_factory.mktemp("rie")
    env = function_store.env
    files = sorted(EVENTS.glob("*.json"))
    names = [f.name for f in files] + ["GET /v1/usage"]
    events = [json.loads(f.read_text()) for f in files] + [usage_event()]

    opt = lay_out_opt(tmp, arch)
    emulator = RuntimeEmulator(
        task_root=built_dir(arch) / "EmbeddingsFunction",
        opt=opt,
        env=env,
        arch=arch,
        log_path=tmp / "rie.log",
    ).start()
    try:
        emulated = [emulator.invoke(copy.deepcopy(event)) for event in events]
    finally:
        emulator.stop()

    local_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODEL_"))},
        **env,
        "MODEL_DIR": str(opt / "model"),
        "PYTHONPATH": str(REPO),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",  # same ONNX thread count as emulated
    }
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), str(REPO / "tests/deploy/invoke_in_process.py")],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        env=local_env,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Runs(names, events, emulated, json.loads(done.stdout), emulator, function_store)


def assert_close(emulated: Any, local: Any, path: str = "body") -> None:
    """Equal JSON, with embeddings compared as float32 vectors (base64 or lists)."""
    if isinstance(local, dict):
        assert isinstance(emulated, dict) and emulated.keys() == local.keys(), path
        for key in local:
            if key == "embedding":
                a, b = as_vector(emulated[key]), as_vector(local[key])
                assert a.shape == b.shape, f"{path}.embedding"
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=path)
            else:
                assert_close(emulated[key], local[key], f"{path}.{key}")
    elif isinstance(local, list):
        assert isinstance(emulated, list) and len(emulated) == len(local), path
        for index, (a, b) in enumerate(zip(emulated, local, strict=True)):
            assert_close(a, b, f"{path}[{index}]")
    else:
        assert emulated == local, path


def as_vector(value: Any) -> np.ndarray:
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype="<f4")
    return np.asarray(value, dtype=np.float32)


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in (response.get("headers") or {}).items()}


def test_every_event_answers_as_the_in_process_handler(runs: Runs) -> None:
    for name, emulated, local in zip(runs.names, runs.emulated, runs.in_process, strict=True):
        assert emulated["statusCode"] == local["statusCode"], name
        assert emulated.get("isBase64Encoded") == local.get("isBase64Encoded"), name
        e_headers, l_headers = headers_of(emulated), headers_of(local)
        assert e_headers.keys() == l_headers.keys(), name
        same_body = emulated.get("body") == local.get("body")
        for header in l_headers.keys() - VOLATILE_HEADERS:
            if header == "content-length" and not same_body:
                continue  # float text may differ in the last digit; the vectors are compared
            assert e_headers[header] == l_headers[header], f"{name}: {header}"
        assert (emulated.get("multiValueHeaders") is None) == (
            local.get("multiValueHeaders") is None
        ), name
        assert_close(response_body(emulated), response_body(local), name)


def test_the_fixtures_reach_the_model_and_the_usage_store(runs: Runs) -> None:
    statuses = dict(zip(runs.names, (r["statusCode"] for r in runs.emulated), strict=True))
    assert statuses["http-api-v2-embeddings.json"] == 200
    assert statuses["function-url-embeddings.json"] == 200  # FrontDoor=FunctionUrl's payload
    assert statuses["http-api-v2-stage-batch.json"] == 200
    assert statuses["rest-api-v1-embeddings.json"] == 200
    assert statuses["GET /v1/usage"] == 200
    client, usage_table = runs.store.client, runs.store.usage_table
    served = [
        event
        for event, response in zip(runs.events, runs.emulated, strict=True)
        if response["statusCode"] == 200
        and "embeddings" in (event.get("rawPath") or event.get("path") or "")
    ]
    for event in served:
        item = client.get_item(
            TableName=usage_table, Key=store.request_key(event["requestContext"]["requestId"])
        )
        assert "Item" in item, f"no usage record for {event['requestContext']['requestId']}"
    # The usage the runtime reports is what the served responses said they used.
    usage = response_body(runs.emulated[-1])
    billed = [
        response_body(response)["usage"]["prompt_tokens"]
        for response in runs.emulated
        if response["statusCode"] == 200
        and "usage" in response_body(response)
        and isinstance(response_body(response)["usage"], dict)
    ]
    assert usage["total"]["requests"] == len(served) == len(billed)
    assert usage["total"]["prompt_tokens"] == sum(billed)
    assert DEV_KEY not in json.dumps(usage)


def test_the_runtime_logged_no_error(runs: Runs) -> None:
    log = runs.emulator.log()
    errors = [line for line in log.splitlines() if "[ERROR]" in line or "Traceback" in line]
    assert not errors, "\n".join(errors[:5])


def test_init_duration_is_reported(runs: Runs) -> None:
    rapid_ms, report_ms = runs.emulator.init_durations_ms()
    assert rapid_ms is not None and rapid_ms > 0, runs.emulator.log()[-2000:]
    out = REPO / "build" / "deploy" / "rie-report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "arch": host_arch(),
                "init_duration_ms": rapid_ms,
                "report_line_init_duration_ms": report_ms,
                "events": len(runs.events),
            },
            indent=2,
        )
    )
    print(f"\nRIE init duration: {rapid_ms:.0f} ms (REPORT line: {report_ms} ms)")


def test_the_runtime_interpreter_has_none_of_the_layers_packages(built: Path) -> None:
    # The emulated function can only have imported these from the dependency layer.
    site = next((LAMBDA_RUNTIME / "lib").glob("python3.*/site-packages"))
    for package in ("fastapi", "onnxruntime", "numpy", "tokenizers", "mangum", "orjson"):
        assert not (site / package).exists(), (
            f"{package} in {site}: the test would not see the layer"
        )
