"""Long inputs: windows, their pooling, the LONG_INPUTS setting, the header and the batch line.

An input over the model's window is embedded as windows `[CLS] + up to window-2 tokens +
[SEP]`, and their pooled vectors are combined as if pooled over every window's tokens at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import orjson
import pytest
from fastapi import FastAPI
from handler_support import ALIAS, ListRecorder
from starlette.testclient import TestClient

from handler.batch.lines import process_line
from handler.embedder import (
    Embedder,
    InputTooLongError,
    combine_windows,
    l2_normalize,
    pool,
    windows,
)
from handler.settings import Settings, SettingsError

URL = "/v1/embeddings"
CLS, SEP = 101, 102


def long_text(words: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    vocabulary = "the model reads every window of a long document and pools them".split()
    return " ".join(rng.choice(vocabulary, size=words).tolist()) + "."


# --- windows and their combination: pure numpy ---


@pytest.mark.unit
@pytest.mark.parametrize("overlap", [0, 1, 50])
@pytest.mark.parametrize("length", [257, 300, 508, 509, 8192])
def test_every_token_lands_in_a_window_of_the_models_shape(length: int, overlap: int) -> None:
    ids = [CLS, *range(1000, 1000 + length - 2), SEP]
    rows = windows(ids, 256, overlap, CLS, SEP)
    assert all(row[0] == CLS and row[-1] == SEP and 3 <= len(row) <= 256 for row in rows)
    body = [token for row in rows for token in row[1:-1]]
    assert set(body) == set(ids[1:-1])
    assert len(body) == length - 2 + overlap * (len(rows) - 1) - _tail_overlap(rows, overlap)
    for before, after in zip(rows, rows[1:], strict=False):
        assert before[1:-1][len(before) - 2 - overlap :] == after[1 : 1 + overlap]


def _tail_overlap(rows: list[list[int]], overlap: int) -> int:
    # the last window may be shorter than its overlap with the one before: it is all repeat
    return max(0, overlap - (len(rows[-1]) - 2)) if len(rows) > 1 else 0


@pytest.mark.unit
def test_windows_without_special_tokens_and_bad_overlap() -> None:
    rows = windows(list(range(10)), 4, 0, None, None)
    assert rows == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(ValueError, match="holds no new tokens"):
        windows(list(range(10)), 4, 2, CLS, SEP)


@pytest.mark.unit
@pytest.mark.parametrize("mode", ["mean", "max"])
def test_combined_windows_equal_pooling_over_all_their_tokens(mode: str) -> None:
    # GIVEN three windows' token states of different lengths
    rng = np.random.default_rng(3)
    states = [rng.standard_normal((n, 384)).astype(np.float32) for n in (256, 256, 37)]
    pooled = np.stack(
        [pool(s[None], np.ones((1, len(s)), dtype=np.int64), mode)[0] for s in states]
    )
    # WHEN they are combined, THEN it is the pooling of every window's tokens at once
    combined = combine_windows(pooled, [len(s) for s in states], mode)
    everything = np.concatenate(states)
    expected = everything.mean(axis=0) if mode == "mean" else everything.max(axis=0)
    np.testing.assert_allclose(combined, expected, rtol=1e-5, atol=1e-6)
    assert combined.dtype == np.float32


@pytest.mark.unit
def test_cls_windows_are_weighted_by_their_tokens() -> None:
    pooled = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(combine_windows(pooled, [256, 64], "cls"), [0.8, 0.2])


# --- the embedder ---


@pytest.mark.functional
def test_a_pooled_input_is_its_windows_each_run_alone_then_combined(embedder: Embedder) -> None:
    text = long_text(900)
    tokenized = embedder.tokenize([text], "pool")
    ids = tokenized.ids[0]
    assert tokenized.pooled == 1 and len(ids) > 3 * embedder.max_input_tokens
    rows = embedder.windows(ids)
    assert len(rows) > 3
    each_alone = np.concatenate([embedder.run_rows([row]) for row in rows])
    expected = l2_normalize(combine_windows(each_alone, [len(r) for r in rows], "mean")[None])
    assert np.array_equal(embedder.run(tokenized), expected.astype(np.float32))


@pytest.mark.functional
def test_long_inputs_are_batch_invariant(embedder: Embedder) -> None:
    texts = [long_text(n, seed=n) for n in (300, 1200, 2500)] + ["a short query", "another"]
    alone = np.stack([embedder.embed([t], "pool").vectors[0] for t in texts])
    for order in ([4, 3, 2, 1, 0], [2, 0, 4, 1, 3]):
        together = embedder.embed([texts[i] for i in order], "pool").vectors
        assert np.array_equal(together, alone[order])


@pytest.mark.functional
def test_modes_and_the_openai_limit(embedder: Embedder) -> None:
    window = embedder.max_input_tokens
    text = long_text(700)
    full = len(embedder.tokenizer.encode(text).ids)
    pooled = embedder.embed(["ok", text], "pool")
    assert (pooled.token_counts[1], pooled.pooled, pooled.truncated) == (full, 1, 0)
    cut = embedder.embed(["ok", text], "truncate")
    assert (cut.token_counts[1], cut.pooled, cut.truncated) == (window, 0, 1)
    assert float(pooled.vectors[1] @ cut.vectors[1]) < 0.999  # the tail counts when pooled
    medium = long_text(300)  # under the prefix span in characters: counted whole
    medium_tokens = len(embedder.tokenizer.encode(medium).ids)
    with pytest.raises(InputTooLongError) as refused:
        embedder.embed(["ok", medium], "reject")
    assert (refused.value.index, refused.value.tokens, refused.value.limit) == (
        1,
        medium_tokens,
        window,
    )
    assert not refused.value.at_least
    with pytest.raises(InputTooLongError) as over:
        embedder.embed([text], "pool", max_pooled_tokens=full - 1)
    assert over.value.limit == full - 1
    assert embedder.embed([text], "pool", max_pooled_tokens=full).pooled == 1


@pytest.mark.functional
def test_token_id_inputs_pool_too(embedder: Embedder) -> None:
    text = long_text(400)
    ids = embedder.tokenizer.encode(text).ids
    from_ids = embedder.embed([ids[1:-1]], "pool")
    from_text = embedder.embed([text], "pool")
    assert from_ids.token_counts == from_text.token_counts
    assert np.array_equal(from_ids.vectors, from_text.vectors)


# --- the setting ---


@pytest.mark.unit
def test_long_inputs_setting_and_its_alias() -> None:
    assert Settings.from_env({}).long_input_mode == "pool"
    assert Settings.from_env({}).max_input_tokens == 8192
    assert Settings.from_env({"LONG_INPUTS": "Reject"}).long_input_mode == "reject"
    assert Settings.from_env({"TRUNCATE_INPUTS": "true"}).long_input_mode == "truncate"
    both = {"TRUNCATE_INPUTS": "true", "LONG_INPUTS": "truncate"}
    assert Settings.from_env(both).long_input_mode == "truncate"
    with pytest.raises(SettingsError, match="LONG_INPUTS='chunk' must be one of pool"):
        Settings.from_env({"LONG_INPUTS": "chunk"})
    with pytest.raises(SettingsError, match="contradicts LONG_INPUTS=pool"):
        Settings.from_env({"TRUNCATE_INPUTS": "true", "LONG_INPUTS": "pool"})
    with pytest.raises(SettingsError, match="MAX_TOKENS_PER_INPUT"):
        Settings.from_env({"MAX_TOKENS_PER_INPUT": "0"})


# --- over HTTP and in a batch line ---


@pytest.mark.functional
def test_the_route_pools_counts_every_token_and_says_so(
    client: TestClient, embedder: Embedder
) -> None:
    texts = ["short", long_text(600, 1), long_text(2000, 2)]
    response = client.post(URL, json={"input": texts, "model": ALIAS})
    assert response.status_code == 200
    assert response.headers["x-pooled-inputs"] == "2"
    assert "x-truncated-inputs" not in response.headers
    expected = embedder.embed(texts, "pool")
    assert response.json()["usage"]["prompt_tokens"] == expected.total_tokens
    assert expected.total_tokens > 2600
    vectors = np.array([d["embedding"] for d in response.json()["data"]], dtype=np.float32)
    alone = np.stack([embedder.embed([t], "pool").vectors[0] for t in texts])
    np.testing.assert_allclose(vectors, alone, atol=1e-7)  # float JSON round trip


@pytest.mark.functional
def test_the_route_refuses_past_8192_tokens_and_other_modes(
    make_app: Callable[..., FastAPI], client: TestClient, embedder: Embedder
) -> None:
    text = long_text(9000)
    tokens = len(embedder.tokenizer.encode(text).ids)
    over = client.post(URL, json={"input": text, "model": ALIAS})
    assert over.status_code == 400
    error = over.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert (
        f"maximum context length is 8192 tokens, however you requested {tokens}"
        in (error["message"])
    )
    medium = long_text(400)
    with TestClient(make_app(long_inputs="reject")) as rejecting:
        refused = rejecting.post(URL, json={"input": medium, "model": ALIAS})
    assert refused.status_code == 400
    assert "maximum context length is 256 tokens" in refused.json()["error"]["message"]
    with TestClient(make_app(long_inputs="truncate")) as truncating:
        cut = truncating.post(URL, json={"input": medium, "model": ALIAS})
    assert cut.headers["x-truncated-inputs"] == "1"
    assert "x-pooled-inputs" not in cut.headers


@pytest.mark.functional
def test_a_batch_line_pools_like_the_route(
    client: TestClient, embedder: Embedder, base_settings: Settings
) -> None:
    body = {"model": ALIAS, "input": [long_text(1500, 5), "short"], "encoding_format": "base64"}
    line = {"custom_id": "doc", "method": "POST", "url": URL, "body": body}
    result = process_line(orjson.dumps(line), 1, "batch_x", URL, embedder, base_settings)
    assert result.ok and result.prepared is not None
    assert result.prepared.tokenized.pooled == 1
    synchronous = client.post(URL, json=body)
    output = orjson.loads(result.line)["response"]["body"]
    assert output["data"] == synchronous.json()["data"]
    assert output["usage"] == synchronous.json()["usage"]


# --- the largest request against the function's timeout ---


@pytest.mark.unit
def test_the_request_token_budget_follows_lambdas_memory() -> None:
    assert Settings.from_env({}).request_token_budget is None  # uvicorn: no 29 s timeout
    at_template = Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048"})
    assert at_template.request_token_budget == 120_000  # one vCPU
    assert Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3538"}).request_token_budget == (
        240_000
    )
    explicit = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048", "REQUEST_TOKEN_BUDGET": "0"}
    assert Settings.from_env(explicit).request_token_budget is None
    assert Settings.from_env({"REQUEST_TOKEN_BUDGET": "5000"}).request_token_budget == 5000


@pytest.mark.functional
def test_a_request_over_the_budget_is_refused_before_the_model_runs(
    make_app: Callable[..., FastAPI], embedder: Embedder, recorder: ListRecorder
) -> None:
    # GIVEN a deployment whose timeout allows 3,000 tokens, WHEN two 2,000-token inputs come
    texts = [long_text(1500, 7), long_text(1500, 8)]
    tokens = embedder.embed(texts, "pool").total_tokens
    with TestClient(make_app(recorder=recorder, request_token_budget=3000)) as small:
        response = small.post(URL, json={"input": texts, "model": ALIAS})
        fits = small.post(URL, json={"input": texts[:1], "model": ALIAS})
    # THEN a 400 names the limit and the way out, and nothing is recorded for it
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "max_tokens_per_request" and error["param"] == "input"
    assert error["message"].startswith(f"Requested {tokens} tokens, max 3000 tokens per request")
    assert "REQUEST_TOKEN_BUDGET" in error["message"] and "Batch API" in error["message"]
    assert fits.status_code == 200
    assert len(recorder.records) == 1


# --- a huge input is refused from a prefix, not tokenized whole ---


@pytest.mark.functional
@pytest.mark.parametrize("mode", ["pool", "reject"])
def test_a_huge_input_is_refused_after_a_prefix(embedder: Embedder, mode: str) -> None:
    huge = long_text(400_000)  # ~2.4 MB, about 400,000 tokens
    limit = 8192 if mode == "pool" else embedder.max_input_tokens
    with pytest.raises(InputTooLongError) as refused:
        embedder.tokenize(["ok", huge], mode)
    assert refused.value.at_least and refused.value.limit == limit
    assert limit < refused.value.tokens < 8 * limit + 2  # a prefix was counted, not the text
    assert refused.value.index == 1


@pytest.mark.functional
def test_the_prefix_never_refuses_what_fits(embedder: Embedder) -> None:
    # GIVEN texts longer than the prefix span in characters but within the limit in tokens
    spaced = "word" + " " * 70_000 + "end."  # mostly whitespace: few tokens
    assert len(embedder.tokenize([spaced], "reject").ids[0]) == 5  # [CLS] word end . [SEP]
    unbroken = "x" * 70_000  # no whitespace to cut at: tokenized whole
    assert len(embedder.tokenize([unbroken], "reject").ids[0]) == 3  # one [UNK]
