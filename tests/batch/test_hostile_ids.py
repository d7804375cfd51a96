"""Ids a client makes up (issue 17, item 10): any length or shape is a 404 (a path id) or a
400 (an `after` cursor) in OpenAI's envelope, never DynamoDB's 500 for a key over 2 KB."""

from __future__ import annotations

import httpx
import pytest

from tests.batch.batch_support import Stack

pytestmark = pytest.mark.integration
LONG = "file-" + "a" * 3000
ODD = "file-%E2%82%AC%20x"  # percent-encoded: a euro sign and a space


@pytest.mark.parametrize("bad", [LONG, ODD])
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/files/{id}", 404),
        ("DELETE", "/files/{id}", 404),
        ("GET", "/files/{id}/content", 404),
        ("GET", "/batches/{id}", 404),
        ("POST", "/batches/{id}/cancel", 404),
        ("GET", "/uploads/{id}/cancel", 405),  # only POST: still no 500
        ("POST", "/uploads/{id}/cancel", 404),
        ("GET", "/files?after={id}", 400),
        ("GET", "/batches?after={id}", 400),
    ],
)
def test_made_up_ids_are_client_errors(
    stack: Stack, bad: str, method: str, path: str, status: int
) -> None:
    response = httpx.request(
        method,
        stack.base_url + path.format(id=bad),
        headers={"Authorization": f"Bearer {stack.secrets['alice']}"},
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert len(error["message"]) < 400  # the id is not echoed whole


def test_a_made_up_input_file_id_is_a_404(stack: Stack) -> None:
    response = httpx.post(
        stack.base_url + "/batches",
        headers={"Authorization": f"Bearer {stack.secrets['alice']}"},
        json={"input_file_id": "x" * 128, "endpoint": "/v1/embeddings", "completion_window": "24h"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "input_file_id"
