"""Integration: file content through the API function as built, in the Lambda runtime.

GIVEN the x86_64 `sam build` of EmbeddingsFunction under the Runtime Interface Emulator, with
moto's server as S3, DynamoDB Local holding a key and the batch table, and files of 3.0 MB,
4,718,667 bytes (the smallest whose base64 is over 6 MB's budget), 4.8 MB and 5,000,000 bytes
(the redirect threshold) stored for that key,
WHEN GET /v1/files/{id}/content is invoked for each,
THEN no response the runtime returns is over Lambda's 6 MB payload limit: the 3 MB file comes
back whole (base64, as Mangum sends a binary body) and byte for byte, and the others are a
307 to a presigned S3 GET. Before the redirect compared the base64 size, the 4.7-5.0 MB files
streamed back as a 6.3-6.7 MB response, which Lambda refuses.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handler.batch import table
from handler.batch.files import FileStore
from handler.settings import LAMBDA_RESPONSE_LIMIT
from handler.usage.keys import KeyStore, Limits
from tests.deploy.deploy_support import (
    EVENTS,
    FunctionStore,
    RuntimeEmulator,
    built_dir,
    host_arch,
    lay_out_opt,
)
from tools.moto_server import MotoServer

pytestmark = pytest.mark.integration

SIZES = (3_000_000, 4_718_667, 4_800_000, 5_000_000)


def content_event(file_id: str, secret: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "http-api-v2-health.json").read_text())
    path = f"/v1/files/{file_id}/content"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = ""
    event["headers"]["authorization"] = f"Bearer {secret}"
    event["requestContext"]["requestId"] = f"deploy-test-{file_id}"
    return copy.deepcopy(event)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def answers(
    built: Path,
    function_store: FunctionStore,
    moto: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[int, tuple[bytes, dict[str, Any]]]:
    arch = host_arch()
    tmp = tmp_path_factory.mktemp("rie-files")
    bucket = batch_table = f"files-rie-{tmp.name[-6:].replace('_', '-')}"
    moto.client("s3").create_bucket(Bucket=bucket)
    table.create_table(function_store.client, batch_table)
    secret, key = KeyStore(function_store.client, function_store.keys_table).create(
        "downloads", Limits(rpm=10_000)
    )
    files = FileStore(moto.client("s3"), function_store.client, bucket, batch_table)
    stored = {}
    for size in SIZES:
        data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
        stored[size] = (data, files.upload(key.key_id, io.BytesIO(data), "f.jsonl", "batch").id)
    env = {
        **function_store.env,
        "AWS_ENDPOINT_URL_S3": moto.endpoint_url,
        "BATCH_BUCKET": bucket,
        "BATCH_TABLE": batch_table,
    }
    emulator = RuntimeEmulator(
        task_root=built_dir(arch) / "EmbeddingsFunction",
        opt=lay_out_opt(tmp, arch),
        env=env,
        arch=arch,
        log_path=tmp / "rie.log",
    ).start()
    try:
        return {
            size: (data, emulator.invoke(content_event(file_id, secret)))
            for size, (data, file_id) in stored.items()
        }
    finally:
        emulator.stop()


@pytest.mark.parametrize("size", SIZES)
def test_no_file_makes_a_response_over_lambdas_limit(
    answers: dict[int, tuple[bytes, dict[str, Any]]], size: int
) -> None:
    data, response = answers[size]
    assert len(json.dumps(response)) <= LAMBDA_RESPONSE_LIMIT
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if size == 3_000_000:
        assert response["statusCode"] == 200 and response["isBase64Encoded"]
        assert base64.b64decode(response["body"]) == data
    else:
        assert response["statusCode"] == 307, response.get("body", "")[:500]
        assert headers["location"].startswith("http")
