"""Integration: real client libraries against the app served by uvicorn on 127.0.0.1.

openai-python (its default base64 path and explicit float), LangChain's OpenAIEmbeddings and
LlamaIndex's OpenAILikeEmbedding, exactly as users configure them with a base URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest

from handler.embedder import Embedder
from tests.handler.handler_support import ALIAS, LiveServer

pytestmark = pytest.mark.integration
API_KEY = "sk-local-dev"  # what the README uses; accepted whether or not auth is on
TEXTS = [
    "The food was delicious and the waiter...",
    "A man is riding a horse.",
    "Hi",
    "Serverless embeddings in your own AWS account",
]


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=live_server.base_url, api_key=API_KEY, max_retries=0) as sdk:
        yield sdk


def cosines(got: list[list[float]], expected: np.ndarray) -> np.ndarray:
    vectors = np.array(got, dtype=np.float32)
    assert vectors.shape == expected.shape
    return np.sum(vectors * expected, axis=1) / np.linalg.norm(vectors, axis=1)


def test_openai_default_base64_path(client: openai.OpenAI, embedder: Embedder) -> None:
    result = client.embeddings.create(model=ALIAS, input=TEXTS)  # sends encoding_format=base64
    assert result.model == embedder.model_id
    assert [d.index for d in result.data] == [0, 1, 2, 3]
    expected = embedder.embed(TEXTS)
    assert cosines([d.embedding for d in result.data], expected.vectors).min() >= 0.9999
    assert result.usage.prompt_tokens == result.usage.total_tokens == expected.total_tokens


def test_openai_explicit_float(client: openai.OpenAI, embedder: Embedder) -> None:
    result = client.embeddings.create(
        model=embedder.model_id, input=TEXTS[0], encoding_format="float"
    )
    expected = embedder.embed(TEXTS[:1]).vectors
    assert cosines([result.data[0].embedding], expected).min() >= 0.9999


def test_openai_large_batch_keeps_order(client: openai.OpenAI, embedder: Embedder) -> None:
    texts = [f"{'many ' * (i % 23)}item {i}" for i in range(300)]
    result = client.embeddings.create(model=ALIAS, input=texts)
    assert [d.index for d in result.data] == list(range(300))
    expected = embedder.embed(texts).vectors
    assert cosines([d.embedding for d in result.data], expected).min() >= 0.9999


def test_openai_dimensions(client: openai.OpenAI, embedder: Embedder) -> None:
    result = client.embeddings.create(model=ALIAS, input=TEXTS[:2], dimensions=96)
    vectors = np.array([d.embedding for d in result.data])
    assert vectors.shape == (2, 96)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_openai_token_id_input(client: openai.OpenAI, embedder: Embedder) -> None:
    ids = [embedder.tokenizer.encode(text).ids for text in TEXTS[:2]]
    result = client.embeddings.create(model=ALIAS, input=ids)
    expected = embedder.embed(TEXTS[:2]).vectors
    assert cosines([d.embedding for d in result.data], expected).min() >= 0.9999


def test_openai_models(client: openai.OpenAI, embedder: Embedder) -> None:
    assert [m.id for m in client.models.list()] == [embedder.model_id, ALIAS]
    assert client.models.retrieve(embedder.model_id).id == embedder.model_id
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_openai_exception_classes(client: openai.OpenAI, embedder: Embedder) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        client.embeddings.create(model="text-embedding-ada-002", input="x")
    assert not_found.value.status_code == 404
    assert not_found.value.code == "model_not_found"
    assert not_found.value.request_id and not_found.value.request_id.startswith("req_")

    with pytest.raises(openai.BadRequestError) as empty:
        client.embeddings.create(model=ALIAS, input="")
    assert empty.value.param == "input"

    with pytest.raises(openai.BadRequestError) as dims:
        client.embeddings.create(model=ALIAS, input="x", dimensions=embedder.dimensions + 1)
    assert dims.value.param == "dimensions"

    with pytest.raises(openai.BadRequestError) as too_long:
        client.embeddings.create(model=ALIAS, input="word " * 8200)  # OpenAI's 8,192 limit
    assert too_long.value.code == "context_length_exceeded"

    tiktoken_ids = [[9906, 1917, 100255]]  # what LangChain sends by default: OpenAI's ids
    with pytest.raises(openai.BadRequestError) as oov:
        client.embeddings.create(model=ALIAS, input=tiktoken_ids)
    assert "check_embedding_ctx_length=False" in oov.value.message

    with pytest.raises(openai.APIStatusError) as too_large:
        client.embeddings.create(model=ALIAS, input="x", extra_body={"input": "x" * 7_000_000})
    assert too_large.value.status_code == 413


def test_raw_http_errors_are_in_the_envelope(live_server: LiveServer) -> None:
    root = live_server.base_url.removesuffix("/v1")
    with httpx.Client(base_url=root) as http:
        wrong_method = http.get("/v1/embeddings")
        unknown = http.post("/v1/completions", json={})
        form = http.post("/v1/embeddings", data={"input": "x", "model": ALIAS})
    assert (wrong_method.status_code, unknown.status_code, form.status_code) == (405, 404, 415)
    for response in (wrong_method, unknown, form):
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert response.headers["x-request-id"].startswith("req_")
        assert "openai-processing-ms" in response.headers


def test_concurrent_requests_never_mix_results(client: openai.OpenAI, embedder: Embedder) -> None:
    batches = [
        [f"request {n} sentence {k} {'x ' * (n % 5)}" for k in range(1 + n % 4)] for n in range(24)
    ]
    expected = [embedder.embed(batch).vectors for batch in batches]

    def call(batch: list[str]) -> list[list[float]]:
        return [d.embedding for d in client.embeddings.create(model=ALIAS, input=batch).data]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, batches))
    for got, want in zip(results, expected, strict=True):
        assert cosines(got, want).min() >= 0.9999


def test_langchain_openai_embeddings(live_server: LiveServer, embedder: Embedder) -> None:
    from langchain_openai import OpenAIEmbeddings

    with httpx.Client() as http:  # ours, so that its connections are closed after
        embeddings = OpenAIEmbeddings(
            model=ALIAS,
            base_url=live_server.base_url,
            api_key=API_KEY,  # type: ignore[arg-type]
            check_embedding_ctx_length=False,
            max_retries=0,
            http_client=http,
        )
        documents = embeddings.embed_documents(TEXTS)
        query = embeddings.embed_query(TEXTS[0])
    expected = embedder.embed(TEXTS).vectors
    assert cosines(documents, expected).min() >= 0.9999
    alone = embedder.embed(TEXTS[:1]).vectors  # a query is sent alone: compare like with like
    assert cosines([query], alone).min() >= 0.9999


def test_llamaindex_openai_like_embedding(live_server: LiveServer, embedder: Embedder) -> None:
    from llama_index.embeddings.openai_like import OpenAILikeEmbedding

    with httpx.Client() as http:
        embed_model = OpenAILikeEmbedding(
            model_name=ALIAS,
            api_base=live_server.base_url,
            api_key=API_KEY,
            max_retries=0,
            http_client=http,
        )
        single = embed_model.get_text_embedding(TEXTS[1])
        batch = embed_model.get_text_embedding_batch(TEXTS)
    expected = embedder.embed(TEXTS).vectors
    assert cosines([single], embedder.embed(TEXTS[1:2]).vectors).min() >= 0.9999
    assert cosines(batch, expected).min() >= 0.9999


# Long inputs: the default LONG_INPUTS=pool embeds an input over the model's 256-token window as
# pooled windows; clients send such inputs by default (LlamaIndex's nodes are 1,024 tokens).


def long_document() -> str:
    from model_artifacts.long_inputs import LongDocs

    return max(LongDocs.read().documents, key=len)  # 7,905 tokens, cut by the splitter


def assert_same_as_alone(got: list[list[float]], texts: list[str], embedder: Embedder) -> None:
    alone = np.stack([embedder.embed([text], "pool").vectors[0] for text in texts])
    assert np.abs(np.array(got, dtype=np.float32) - alone).max() <= 1e-6


def test_llamaindex_ingests_default_sized_nodes(
    live_server: LiveServer, embedder: Embedder
) -> None:
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode
    from llama_index.embeddings.openai_like import OpenAILikeEmbedding

    with httpx.Client() as http:
        embed_model = OpenAILikeEmbedding(
            model_name=ALIAS, api_base=live_server.base_url, api_key=API_KEY, http_client=http
        )
        pipeline = IngestionPipeline(transformations=[SentenceSplitter(), embed_model])
        nodes = pipeline.run(documents=[Document(text=long_document())])
    texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
    lengths = [len(embedder.tokenizer.encode(text).ids) for text in texts]
    assert len(nodes) >= 4 and max(lengths) > 1024 > embedder.max_input_tokens
    assert_same_as_alone([node.embedding for node in nodes], texts, embedder)  # type: ignore[misc]


def test_langchain_and_openai_send_a_2000_token_input(
    live_server: LiveServer, client: openai.OpenAI, embedder: Embedder
) -> None:
    from langchain_openai import OpenAIEmbeddings

    document = long_document()
    text = document[: embedder.tokenizer.encode(document).offsets[1999][1]]  # 2,000 tokens
    assert 1990 <= len(embedder.tokenizer.encode(text).ids) <= 2010
    with httpx.Client() as http:
        embeddings = OpenAIEmbeddings(
            model=ALIAS,
            base_url=live_server.base_url,
            api_key=API_KEY,  # type: ignore[arg-type]
            check_embedding_ctx_length=False,
            http_client=http,
        )
        from_langchain = embeddings.embed_documents([text, TEXTS[0]])
    raw = client.embeddings.with_raw_response.create(model=ALIAS, input=[text, TEXTS[0]])
    from_openai = [d.embedding for d in raw.parse().data]
    assert raw.headers["x-pooled-inputs"] == "1"
    assert_same_as_alone(from_langchain, [text, TEXTS[0]], embedder)
    assert_same_as_alone(from_openai, [text, TEXTS[0]], embedder)
