"""Integration: the function's logs in Lambda's real runtime client with the JSON log format.

GIVEN the Runtime Interface Emulator from the aws-sam-cli wheel running awslambdaric (the
python3.13 runtime's client, build/lambda-runtime) over handler.app from the sources, with the
environment LoggingConfig {LogFormat: JSON, ApplicationLogLevel: WARN} gives a function
(AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL), and a usage table that cannot be reached,
WHEN it serves /health, an embeddings request (its usage record then has nowhere to go) and
an unknown path,
THEN between each invocation's START and END every line is one JSON object: either a valid
EMF document whose requestId is the invocation's, or a log line naming the invocation and
the client's x-request-id; and no input text appears anywhere.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import free_port
from tests.ops.emf_spec import emf_problems

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TOOLS_VENV = REPO / "build" / "tools-venv"
LAMBDA_RUNTIME = REPO / "build" / "lambda-runtime"
EVENTS = REPO / "events"
TEXT = "the scarlet ibis-44 took off"
EMULATOR_LINE = re.compile(r"^\d\d \w{3} \d{4} [\d:,]+ \[\w+\] \(rapid\) ")  # its own, not ours


def rie_binary() -> Path:
    arch = {"x86_64": "x86_64", "aarch64": "arm64"}[os.uname().machine]
    found = sorted(
        TOOLS_VENV.glob(f"lib/python3.*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}")
    )
    if not found or not (LAMBDA_RUNTIME / "bin" / "python").exists():
        pytest.fail("the emulator or the runtime client is missing: run `make deploy-tools`")
    return found[0]


@pytest.fixture(scope="module")
def emulator(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    log = tmp_path_factory.mktemp("rie") / "rie.log"
    port, api_port = free_port(), free_port()
    site = next(
        (REPO / ".venv" / "lib").glob("python3.*/site-packages")
    )  # stands in for /opt/python
    env = {
        "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LAMBDA_TASK_ROOT": str(REPO),
        "PYTHONPATH": f"{REPO}:{site}", "MODEL_DIR": str(model_dir),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048", "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
        "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN",
        "AUTH_ENABLED": "false", "METRICS_NAMESPACE": "ServerlessEmbeddings/test",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",  # refused at once: usage is "logged"
        "DYNAMODB_MAX_ATTEMPTS": "1",
    }  # fmt: skip
    command = [
        str(rie_binary()), "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
        "--runtime-api-address", f"127.0.0.1:{api_port}",
        str(LAMBDA_RUNTIME / "bin" / "python"), "-m", "awslambdaric", "handler.app.handler",
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the emulator did not listen"
                time.sleep(0.05)
        yield port, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def invoke(port: int, event: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
        data=json.dumps(event).encode(), method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def events() -> list[dict[str, Any]]:
    health = json.loads((EVENTS / "http-api-v2-health.json").read_text())
    embeddings = json.loads((EVENTS / "http-api-v2-embeddings.json").read_text())
    embeddings["body"] = json.dumps({"model": "all-MiniLM-L6-v2", "input": TEXT})
    embeddings["isBase64Encoded"] = False
    missing = json.loads(json.dumps(health))
    missing["rawPath"] = missing["requestContext"]["http"]["path"] = "/v1/nowhere"
    for number, event in enumerate((health, embeddings, missing)):
        event["requestContext"]["requestId"] = f"apigw-{number}"
    return [health, embeddings, missing]


def windows(log: str) -> list[tuple[str, list[str]]]:
    """(invocation id, the lines between its START and its END)."""
    found = []
    for match in re.finditer(r"START RequestId: (\S+).*?\n(.*?)END RequestId: \1", log, re.S):
        lines = match.group(2).splitlines()
        found.append((match.group(1), [x for x in lines if x and not EMULATOR_LINE.match(x)]))
    return found


def test_every_line_of_an_invocation_is_json_naming_it(emulator: tuple[int, Path]) -> None:
    port, log_path = emulator
    answers = [invoke(port, event) for event in events()]
    assert [a["statusCode"] for a in answers] == [200, 200, 404]
    assert answers[0]["headers"]["x-cold-start"] == "true"
    assert answers[1]["headers"]["x-cold-start"] == "false"
    time.sleep(0.5)  # let the emulator flush the last END line
    log = log_path.read_text(errors="replace")
    seen = windows(log)
    assert len(seen) == 3, log[-3000:]
    kinds: list[str] = []
    for number, (invoke_id, lines) in enumerate(seen):
        for line in lines:
            document = json.loads(line)  # every line: one JSON object
            if "_aws" in document:  # no ids (bytes): its window names the invocation
                assert emf_problems(line) == [], line
                kinds.append("emf")
                continue
            assert document["requestId"] == invoke_id, line
            kinds.append(document["level"])
            assert document["xRequestId"] == f"apigw-{number}", line
    assert kinds.count("emf") == 3  # one metrics line per request
    assert "ERROR" in kinds  # the usage record that reached neither table nor queue
    assert "INFO" not in kinds and "DEBUG" not in kinds  # ApplicationLogLevel WARN
    assert TEXT not in log and "ibis-44" not in log
    emf = [json.loads(line) for _, lines in seen for line in lines if '"_aws"' in line]
    assert emf[0]["ColdStart"] == 1 and emf[0]["InitDuration"] > 0
    assert emf[1]["UsageLogged"] == 1 and emf[1]["Tokens"] > 0
    assert emf[2]["route"] == "unmatched"
