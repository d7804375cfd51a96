"""Texts/s of one engine over the corpus, driven over stdin so engines can take turns.

The worker loads its engine, runs a warm-up batch and prints {"ready": ...}. Then each line
`run` on stdin makes one timed pass over the corpus and prints {"seconds": ...,
"cpu_seconds": ...} (wall and process CPU time); `sample` prints the first vectors (so the
orchestrator can check every engine embeds alike); `vectors PATH` saves every vector of one
pass and `alone N PATH` the first N texts embedded one request each (the bake-off's fidelity
and invariance); end of input ends the worker. Waiting on stdin costs no CPU, so the other
engines run undisturbed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import engines
from bench.corpus import read_corpus

SAMPLE = 8  # vectors sent back for the agreement check
WARMUP_TEXTS = 256


def build(args: argparse.Namespace) -> engines.Embed:
    if args.engine == "ours":
        return engines.load_ours(args.model_dir, args.threads)
    if args.engine == "onnx":
        return engines.load_onnx(args.onnx, args.tokenizer, args.threads, args.max_tokens)
    if args.engine == "st":
        return engines.load_sentence_transformers(args.st_dir, args.threads)
    if args.engine == "ct2":
        return engines.load_ct2(args.ct2_dir, args.tokenizer, args.threads, args.max_tokens)
    if args.engine == "fastembed":
        return engines.load_fastembed(args.onnx, args.st_dir, args.threads, args.dim)
    raise SystemExit(f"unknown engine {args.engine}")


def reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--onnx", type=Path)
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument("--st-dir", type=Path)
    parser.add_argument("--ct2-dir", type=Path)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()

    texts = read_corpus(args.corpus, args.limit or None)
    started = time.perf_counter()
    embed = build(args)
    load_s = time.perf_counter() - started
    # Warm-up over many lengths: torch and onnxruntime pay for each new shape's first run.
    embed(texts[:WARMUP_TEXTS])
    reply({"ready": True, "texts": len(texts), "threads": args.threads, "load_s": load_s})
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "run":
                started, cpu = time.perf_counter(), time.process_time()
                embed(texts)
                # process CPU time too: steadier than wall time when other work shares the cores
                reply(
                    {
                        "seconds": time.perf_counter() - started,
                        "cpu_seconds": time.process_time() - cpu,
                    }
                )
            elif command.startswith("vectors "):  # every text's vector, in one pass, to .npy
                np.save(command.split(" ", 1)[1], np.asarray(embed(texts), dtype=np.float32))
                reply({"saved": True})
            elif command.startswith("alone "):  # the first N texts one request each, to .npy
                _, count, path = command.split(" ", 2)
                alone = [np.asarray(embed([text]))[0] for text in texts[: int(count)]]
                np.save(path, np.stack(alone).astype(np.float32))
                reply({"saved": True})
            elif command == "sample":
                vectors = embed(texts[:SAMPLE])
                rows = [[round(float(x), 6) for x in vectors[i]] for i in range(len(vectors))]
                reply({"sample": rows})
    finally:
        if hasattr(embed, "cleanup"):
            embed.cleanup()


if __name__ == "__main__":
    main()
