"""Per encoding: response bytes and serialisation time for 1 and N inputs, and recall.

Serialisation is the service's own step after the model (handler.embedding_response:
embeddings_body, then fit_response for a client that accepts gzip), on the same vectors for
every encoding, interleaved round by round so machine noise hits each alike; times are also
given as a ratio to float's in the same run. Bytes: the JSON body, what is sent (gzipped when
the encoding is compressible), and what it takes inside Lambda's 6 MB response.

Recall@10 against float: model_artifacts/compact.py on the held-out corpus and the long-
document set (`--recall`); otherwise the figures `make model` recorded in the manifest (the
vectors are bit-stable, so they are the same).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.corpus import big_batch, read_corpus
from bench.stats import median
from handler.embedder import load_embedder
from handler.embedding_response import embeddings_body, fit_response, lambda_payload_size
from handler.encodings import ENCODINGS, Int8Calibration

MODEL = "all-MiniLM-L6-v2"
LIMIT = 6_291_556  # only for fit_response's check: every body here is measured, not refused


def serialise_rounds(
    vectors: Any, tokens: int, calibration: Int8Calibration, rounds: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in ENCODINGS}
    for _ in range(rounds):
        for name in ENCODINGS:
            started = time.perf_counter()
            body = embeddings_body(vectors, MODEL, tokens, name, calibration)
            fit_response(body, "gzip", LIMIT, name)
            times[name].append(time.perf_counter() - started)
    return times


def sizes(vectors: Any, tokens: int, calibration: Int8Calibration) -> dict[str, dict[str, Any]]:
    out = {}
    for name, entry in ENCODINGS.items():
        body = embeddings_body(vectors, MODEL, tokens, name, calibration)
        sent, headers = fit_response(body, "gzip", LIMIT, name)
        out[name] = {
            "json_bytes": len(body),
            "sent_bytes": len(sent),
            "gzip": bool(headers),
            "lambda_payload_bytes": lambda_payload_size(sent, binary=bool(headers)),
            "lambda_payload_bytes_no_gzip": lambda_payload_size(body, binary=False),
            "bytes_per_vector": entry.bytes_per_vector(vectors.shape[1]),
        }
    return out


def recall(model_dir: Path, embedder: Any, measure: bool) -> dict[str, Any]:
    if not measure:
        recorded = embedder.manifest.extra.get("encodings", {}).get("recall", {})
        return {"source": "manifest (make model)", **recorded}
    from model_artifacts.compact import measure_compact

    return {"source": "measured here", **measure_compact(embedder).as_dict()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--big-inputs", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--recall", action="store_true")
    args = parser.parse_args()

    embedder = load_embedder(args.model_dir)
    calibration = Int8Calibration.from_manifest(embedder.manifest.extra, embedder.dimensions)
    if calibration is None:
        raise SystemExit(f"{args.model_dir}: no encodings.int8 scale; rebuild with make model")
    texts = read_corpus(args.corpus)
    rows = []
    for count in (1, args.big_inputs):
        result = embedder.embed(big_batch(texts, count))
        vectors, tokens = result.vectors, result.total_tokens
        times = serialise_rounds(vectors, tokens, calibration, args.rounds)
        float_ms = median(times["float"]) * 1000
        for name, size in sizes(vectors, tokens, calibration).items():
            ms = median(times[name]) * 1000
            rows.append(
                {
                    "encoding": name,
                    "inputs": count,
                    "serialise_ms": round(ms, 3),
                    "vs_float": round(ms / float_ms, 2),
                    **size,
                }
            )
    print(
        json.dumps(
            {
                "rows": rows,
                "rounds": args.rounds,
                "statistic": "median of interleaved rounds",
                "int8_scale": calibration.scale,
                "recall": recall(args.model_dir, embedder, args.recall),
            }
        )
    )


if __name__ == "__main__":
    main()
