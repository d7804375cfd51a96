"""Texts/s of one engine over the corpus: load, one warm-up batch, then timed full passes."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench import engines
from bench.corpus import read_corpus

SAMPLE = 8  # vectors sent back so the orchestrator can check every engine agrees


def build(args: argparse.Namespace) -> engines.Embed:
    if args.engine == "ours":
        return engines.load_ours(args.model_dir, args.threads)
    if args.engine == "onnx":
        return engines.load_onnx(args.onnx, args.tokenizer, args.threads, args.max_tokens)
    if args.engine == "st":
        return engines.load_sentence_transformers(args.st_dir, args.threads)
    if args.engine == "fastembed":
        return engines.load_fastembed(args.onnx, args.st_dir, args.threads, args.dim)
    raise SystemExit(f"unknown engine {args.engine}")


def to_rows(vectors: Any, count: int) -> list[list[float]]:
    return [[round(float(x), 6) for x in vectors[i]] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--onnx", type=Path)
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument("--st-dir", type=Path)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()

    texts = read_corpus(args.corpus, args.limit or None)
    started = time.perf_counter()
    embed = build(args)
    load_s = time.perf_counter() - started
    embed(texts[: engines.BATCH_SIZE])  # warm-up: first-run allocations are not throughput
    runs = []
    vectors: Any = None
    for _ in range(args.repeats):
        started = time.perf_counter()
        vectors = embed(texts)
        runs.append(time.perf_counter() - started)
    if hasattr(embed, "cleanup"):
        embed.cleanup()
    print(
        json.dumps(
            {
                "engine": args.engine,
                "threads": args.threads,
                "texts": len(texts),
                "load_s": round(load_s, 4),
                "runs_s": [round(r, 4) for r in runs],
                "sample": to_rows(vectors, min(SAMPLE, len(texts))),
            }
        )
    )


if __name__ == "__main__":
    main()
