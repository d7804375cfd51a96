"""File content through the Lambda handler (issue 17, item 8): Mangum base64-encodes an
application/octet-stream body, so a file of 4,718,667 to 5,000,000 bytes, streamed, made a
response over Lambda's 6 MB. Run in process through Mangum (the deployed adapter,
handler/lambda_adapter.py) with an HTTP API v2 event, so the size arithmetic is Lambda's own:
the JSON of the response dict. (The Runtime Interface Emulator would need a sam build of the
whole function, which the tests/deploy tier does; the size rule is the same.)"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from handler.factory import create_app
from handler.lambda_adapter import lambda_handler_for
from handler.routes import files
from handler.settings import LAMBDA_RESPONSE_LIMIT
from tests.batch.batch_support import Stack

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"


class Context:
    aws_request_id = "lambda-request-id"
    function_name = "embeddings"
    memory_limit_in_mb = 2048

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def get_event(path: str, secret: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "http-api-v2-health.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["headers"]["authorization"] = f"Bearer {secret}"
    return event


@pytest.mark.parametrize("size", [3_000_000, 4_718_667, 4_800_000, 5_000_000])
def test_file_content_never_makes_a_lambda_response_over_6_mb(stack: Stack, size: int) -> None:
    # GIVEN a file of `size` bytes, and the API as Lambda runs it (Mangum)
    client = stack.client()
    data = os.urandom(size)
    file_id = client.files.create(file=("x.jsonl", io.BytesIO(data)), purpose="batch").id
    usage = stack.recorder
    app = create_app(
        stack.settings,
        stack.embedder,
        **usage.hooks(),  # type: ignore[attr-defined]
        routers=[files.router(stack.service)],
    )
    handler = lambda_handler_for(app)
    # WHEN its content is asked for through the Lambda handler
    try:
        response = handler(
            get_event(f"/v1/files/{file_id}/content", stack.secrets["alice"]), Context()
        )
    finally:
        handler.close()
    # THEN the response fits Lambda's payload limit: streamed whole, or a redirect to S3
    assert len(json.dumps(response)) <= LAMBDA_RESPONSE_LIMIT
    if response["statusCode"] == 200:
        assert response["isBase64Encoded"]
        assert len(response["body"]) == 4 * -(-size // 3)
    else:
        assert response["statusCode"] == 307
        assert response["headers"]["location"].startswith("http")
