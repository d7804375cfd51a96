"""Warm latency through the Mangum handler of the service alone (bench/service.py), in one
process that built it once.

Measures a single short input, 32 inputs, and a large request (2048 inputs) as float and as
base64; then the large request's parts alone: the embedder's compute and the response body's
serialisation (the service's own functions), so the remainder (parsing, Mangum) shows too.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.corpus import big_batch, read_corpus
from bench.events import MODEL, SHORT_TEXT, LambdaContext, v2_embeddings_event
from bench.stats import median, summary_ms


def timed_calls(handler: Any, event: dict[str, Any], count: int) -> tuple[list[float], Any]:
    context = LambdaContext()
    handler(event, context)  # warm this shape once
    durations = []
    response: Any = None
    for _ in range(count):
        started = time.perf_counter()
        response = handler(event, context)
        durations.append(time.perf_counter() - started)
        if response.get("statusCode") != 200:
            raise SystemExit(f"request answered {response.get('statusCode')}: {response}")
    return durations, response


def body_bytes(response: dict[str, Any]) -> bytes:
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if headers.get("content-encoding") == "gzip":
        return gzip.decompress(raw)
    return raw


def large(handler: Any, texts: list[str], encoding: str, count: int) -> dict[str, Any]:
    event = v2_embeddings_event(
        {"input": texts, "model": MODEL, "encoding_format": encoding},
        {"accept-encoding": "gzip"},
    )
    durations, response = timed_calls(handler, event, count)
    payload = json.loads(body_bytes(response))
    if len(payload["data"]) != len(texts):
        raise SystemExit(f"{encoding}: {len(payload['data'])} vectors for {len(texts)} inputs")
    return {
        **summary_ms(durations),
        "inputs": len(texts),
        "response_bytes": len(response.get("body") or ""),
        "uncompressed_bytes": len(body_bytes(response)),
        "gzip": any(
            k.lower() == "content-encoding" and v == "gzip"
            for k, v in (response.get("headers") or {}).items()
        ),
    }


def median_ms(work: Callable[[], object], count: int) -> float:
    work()  # warm
    runs = []
    for _ in range(count):
        started = time.perf_counter()
        work()
        runs.append(time.perf_counter() - started)
    return round(median(runs) * 1000, 3)


def big_parts(settings: Any, embedder: Any, texts: list[str], count: int) -> dict[str, float]:
    """Median ms of the large request's parts: the embedder alone, and the response body built
    from its vectors (orjson, then gzip as for a client that accepts it), as the route does."""
    from handler.embedding_response import embeddings_body, fit_response

    result = embedder.embed(texts)
    vectors, tokens = result.vectors, result.total_tokens
    limit = settings.max_response_bytes
    runs = max(count, 5)
    return {
        "compute_ms": median_ms(lambda: embedder.embed(texts), count),
        "float_json_ms": median_ms(lambda: embeddings_body(vectors, MODEL, tokens, "float"), runs),
        "float_json_gzip_ms": median_ms(
            lambda: fit_response(embeddings_body(vectors, MODEL, tokens, "float"), "gzip", limit),
            runs,
        ),
        "base64_json_ms": median_ms(
            lambda: embeddings_body(vectors, MODEL, tokens, "base64"), runs
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--single", type=int, default=300)
    parser.add_argument("--batch32", type=int, default=30)
    parser.add_argument("--big-inputs", type=int, default=2048)
    parser.add_argument("--big-requests", type=int, default=3)
    args = parser.parse_args()

    from bench.service import service_alone

    settings, embedder, handler = service_alone()

    texts = read_corpus(args.corpus)
    single, _ = timed_calls(
        handler, v2_embeddings_event({"input": SHORT_TEXT, "model": MODEL}), args.single
    )
    batch32, _ = timed_calls(
        handler, v2_embeddings_event({"input": texts[:32], "model": MODEL}), args.batch32
    )
    big = big_batch(texts, args.big_inputs)
    result = {
        "single": summary_ms(single),
        "batch32": summary_ms(batch32),
        "big_float": large(handler, big, "float", args.big_requests),
        "big_base64": large(handler, big, "base64", args.big_requests),
        "big_parts": big_parts(settings, embedder, big, args.big_requests),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
