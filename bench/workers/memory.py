"""Peak RSS of a fresh process answering one large request (default 2048 inputs).

`ours`: the Mangum handler answers one HTTP API v2 event with `encoding_format` float and
`accept-encoding: gzip` (what the openai client sends). `st`: sentence-transformers encodes the
same texts. The resident size after loading is reported too, so the request's own share shows.
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

from bench.corpus import big_batch, read_corpus


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def ours(texts: list[str]) -> float:
    from bench.events import MODEL, LambdaContext, v2_embeddings_event
    from handler.app import handler

    loaded = rss_mb()
    event = v2_embeddings_event(
        {"input": texts, "model": MODEL, "encoding_format": "float"},
        {"accept-encoding": "gzip"},
    )
    response = handler(event, LambdaContext())
    if response.get("statusCode") != 200:
        raise SystemExit(f"large request answered {response.get('statusCode')}")
    return loaded


def sentence_transformers(texts: list[str], st_dir: str, threads: int) -> float:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(st_dir, device="cpu")
    loaded = rss_mb()
    model.encode(texts, batch_size=32)
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=("ours", "st"), required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--inputs", type=int, default=2048)
    parser.add_argument("--st-dir", default="")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    texts = big_batch(read_corpus(args.corpus), args.inputs)
    if args.engine == "ours":
        loaded = ours(texts)
    else:
        loaded = sentence_transformers(texts, args.st_dir, args.threads)
    print(
        json.dumps(
            {
                "inputs": len(texts),
                "rss_after_load_mb": round(loaded, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
