"""The real openai-node client (tests/clients/node, pinned; installed into build/node-clients on
first use) against the stack on uvicorn: embeddings as the Node SDK asks for them (base64,
decoded by the SDK), and a batch's result file over 6 MB fetched through the S3 redirect."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.batch.batch_support import MODEL, Stack, jsonl, request_line, wait_for
from tools.node_clients import node_available, run_node

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not node_available(), reason="node and npm are needed for openai-node"),
]


def node(stack: Stack, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env |= {"OPENAI_BASE_URL": stack.base_url, "OPENAI_API_KEY": stack.secrets["alice"]}
    return orjson.loads(run_node("openai_client.mjs", list(args), env).stdout)


def test_node_embeddings_match_the_python_client(stack: Stack) -> None:
    inputs = ["The quick brown fox.", "Serverless embeddings on Lambda", "ünïcödé ✓"]

    from_node = node(stack, "embed", MODEL, orjson.dumps(inputs).decode())

    from_python = stack.client().embeddings.create(model=MODEL, input=inputs)
    assert from_node["vectors"] == [d.embedding for d in from_python.data]
    assert len(from_node["vectors"][0]) == 384
    assert from_node["usage"] == from_python.usage.model_dump()


def test_node_fetches_a_large_batch_result_through_the_redirect(
    stack: Stack, tmp_path: Path
) -> None:
    # GIVEN a batch whose output file is over Lambda's 6 MB response limit: float vectors,
    # four inputs a line
    client = stack.client()
    rows = [
        request_line(
            f"line-{i}",
            {
                "model": MODEL,
                "input": [f"sentence {i}.{j} of the node test" for j in range(4)],
                "encoding_format": "float",
            },
        )
        for i in range(360)
    ]
    source = client.files.create(file=("node.jsonl", jsonl(rows)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    stack.start_workers(2)
    batch = wait_for(client, batch.id, ("completed", "failed"))
    assert batch.status == "completed" and batch.output_file_id is not None
    output = client.files.retrieve(batch.output_file_id)
    assert output.bytes > 6_291_556 > stack.settings.batch_redirect_bytes

    fetched = node(stack, "content", batch.output_file_id, str(tmp_path / "out.jsonl"))

    # THEN openai-node followed the redirect to S3 (moto, another origin) and got every byte
    assert fetched["redirected"] is True
    s3 = httpx.URL(stack.service.files.s3.meta.endpoint_url)
    assert (httpx.URL(fetched["url"]).host, httpx.URL(fetched["url"]).port) == (s3.host, s3.port)
    data = (tmp_path / "out.jsonl").read_bytes()
    assert len(data) == fetched["bytes"] == output.bytes
    assert data == client.files.content(batch.output_file_id).content
    lines = [orjson.loads(line) for line in data.splitlines()]
    assert sorted(line["custom_id"] for line in lines) == sorted(r["custom_id"] for r in rows)
    assert all(len(line["response"]["body"]["data"]) == 4 for line in lines)
