"""Long inputs: what pooling windows costs, and the largest request's time and memory.

`--part speed`: ms per 1,000 tokens of one 8,192-token input (pooled from 33 windows) against
the same tokens sent as short inputs of at most one window each, interleaved rounds, medians.
`--part request`: a fresh process answers the largest request 300,000 tokens allow, 36 inputs
of 8,192 tokens, through the Mangum handler (auth and usage as the environment says); its
wall time and peak RSS. Run it at ORT_THREADS=1 for the template's 2,048 MB (one vCPU).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

from bench.workers.memory import rss_mb
from handler.embedder import Embedder, load_embedder
from model_artifacts.long_inputs import LongDocs

TOKENS = 8192
REQUEST_INPUTS = 36  # 36 x 8,192 = 294,912 tokens: the most that 300,000 per request allow


def inputs_of(embedder: Embedder, tokens: int, count: int) -> list[str]:
    """`count` texts of exactly `tokens` tokens each (special tokens included), cut from the
    long-document corpus read as one stream (repeated as often as `count` needs)."""
    documents = LongDocs.read().documents
    body = tokens - 2
    repeats = 1 + body * count // sum(len(d) // 8 for d in documents)  # >= 1 token / 8 chars
    stream = "\n\n".join(documents * repeats)
    encoding = embedder.tokenizer.encode(stream, add_special_tokens=False)
    out = []
    for n in range(count):
        start, end = encoding.offsets[n * body][0], encoding.offsets[(n + 1) * body - 1][1]
        out.append(stream[start:end])
    return out


def as_short_inputs(embedder: Embedder, text: str) -> list[str]:
    """The same tokens cut into inputs of one window each."""
    encoding = embedder.tokenizer.encode(text, add_special_tokens=False)
    size = embedder.max_input_tokens - 2
    pieces = []
    for start in range(0, len(encoding.ids), size):
        end = min(start + size, len(encoding.ids)) - 1
        pieces.append(text[encoding.offsets[start][0] : encoding.offsets[end][1]])
    return pieces


def speed(model_dir: Path, threads: int, rounds: int) -> dict[str, object]:
    embedder = load_embedder(model_dir, threads=threads)
    text = inputs_of(embedder, TOKENS, 1)[0]
    pieces = as_short_inputs(embedder, text)
    long_tokens = embedder.embed([text], "pool").total_tokens
    short_tokens = embedder.embed(pieces).total_tokens  # also warms both paths
    timings: dict[str, list[float]] = {"pooled": [], "short": []}
    for _ in range(rounds):
        for name, inputs, mode in (("pooled", [text], "pool"), ("short", pieces, "reject")):
            started = time.perf_counter()
            embedder.embed(inputs, mode)
            timings[name].append(time.perf_counter() - started)
    pooled = statistics.median(timings["pooled"]) * 1e6 / long_tokens
    short = statistics.median(timings["short"]) * 1e6 / short_tokens
    return {
        "threads": threads,
        "rounds": rounds,
        "input_tokens": long_tokens,
        "windows": len(embedder.windows(embedder.tokenize([text], "pool").ids[0])),
        "short_inputs": len(pieces),
        "short_tokens": short_tokens,
        "pooled_ms_per_1k_tokens": round(pooled, 2),
        "short_ms_per_1k_tokens": round(short, 2),
        "pooled_vs_short": round(pooled / short, 3),
    }


def request(model_dir: Path, inputs: int) -> dict[str, object]:
    from bench.events import MODEL, LambdaContext, v2_embeddings_event
    from handler.app import handler, models, settings

    embedder = models.embedder(models.default.id)
    texts = inputs_of(embedder, TOKENS, inputs)
    loaded = rss_mb()
    event = v2_embeddings_event({"input": texts, "model": MODEL, "encoding_format": "base64"})
    started = time.perf_counter()
    response = handler(event, LambdaContext())
    wall = time.perf_counter() - started
    if response.get("statusCode") != 200:
        raise SystemExit(f"the request answered {response.get('statusCode')}: {response}")
    body = json.loads(response["body"])
    return {
        "inputs": inputs,
        "tokens": body["usage"]["prompt_tokens"],
        "threads": settings.onnx_threads,
        "wall_s": round(wall, 2),
        "rss_after_load_mb": round(loaded, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("speed", "request"), required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--inputs", type=int, default=REQUEST_INPUTS)
    args = parser.parse_args()
    if args.part == "speed":
        print(json.dumps(speed(args.model_dir, args.threads, args.rounds)))
    else:
        print(json.dumps(request(args.model_dir, args.inputs)))


if __name__ == "__main__":
    main()
