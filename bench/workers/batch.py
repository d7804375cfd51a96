"""Batch lines per second per local worker count (the `batch` section of `make bench`).

Real parts: the input and outputs on moto's S3 server, shards on its SQS, batch state and the
usage ledger (one record per shard part) on DynamoDB Local. The section runs the template's
shard size (BatchShardLines) with two full shards, so a shard's fixed waits weigh per line as
they do deployed. Each worker is a thread with its own 1-thread embedder (a Lambda container
at 1,769 MB gets one vCPU). Rounds are interleaved (1, 2, 1, 2, ..., the raw embedder after
each) so noise from other work on the machine spreads over every worker count; the
figure is the median of the rounds: lines / (plan queued -> batch completed). One warm-up
round first (sessions, connections, DynamoDB Local's JVM). Each line is one input, a
held-out sentence, so lines/s = inputs/s; `mean_tokens` says how long they are.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from bench.machine import cpu_model
from bench.stats import median

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "model_artifacts" / "corpus" / "heldout.txt"


def rows(count: int) -> bytes:
    texts = [t for t in CORPUS.read_text().splitlines() if t.strip()]
    lines = [
        {
            "custom_id": f"doc-{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "all-MiniLM-L6-v2", "input": texts[i % len(texts)]},
        }
        for i in range(count)
    ]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def mean_tokens(worker: Any, data: bytes) -> float:
    texts = [orjson.loads(line)["body"]["input"] for line in data.splitlines()]
    counts = worker.models.embedder(worker.models.default.id).tokenize(texts).token_counts
    return float(sum(counts) / len(counts))


def one_round(service: Any, workers: list[Any], data: bytes) -> float:
    from handler.batch.service import run_worker

    stored = service.files.upload("bench", io.BytesIO(data), "bench.jsonl", "batch")
    batch = service.batches.create("bench", stored.id, "/v1/embeddings", "24h", None)
    stop = threading.Event()
    started = time.perf_counter()
    service.send({"kind": "plan", "batch_id": batch["id"]})
    threads = [
        threading.Thread(
            target=run_worker, args=(w, service.sqs, service.settings.batch_queue_url, stop)
        )
        for w in workers
    ]
    for thread in threads:
        thread.start()
    while (service.batches.get(batch["id"]) or {}).get("status") != "completed":
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join()
    return elapsed


def profiled_run(service: Any, worker: Any, data: bytes, profile: Any) -> dict[str, float]:
    """One batch handled inline by one worker, each message profiled (bench/shard_profile.py);
    the seconds its planning and its finalization took (for bench/batch_wall.py)."""
    from bench.shard_profile import instrumented
    from handler.batch.worker import decode

    phases = {"plan_s": 0.0, "finalize_s": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] += time.perf_counter() - started

        return wrapper

    # instance attributes over the class's methods, removed after the run
    worker.plan = timed("plan_s", worker.plan)
    worker.finalize_if_last = timed("finalize_s", worker.finalize_if_last)

    stored = service.files.upload("bench", io.BytesIO(data), "bench.jsonl", "batch")
    batch = service.batches.create("bench", stored.id, "/v1/embeddings", "24h", None)
    service.send({"kind": "plan", "batch_id": batch["id"]})
    sqs, url = service.sqs, service.settings.batch_queue_url
    with instrumented(profile, worker.models.embedder(worker.models.default.id)):
        while (service.batches.get(batch["id"]) or {}).get("status") != "completed":
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
            for message in got.get("Messages", []):
                with profile.run(0):
                    worker.handle(decode(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    profile.lines += data.count(b"\n")
    del worker.plan, worker.finalize_if_last
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=600)
    parser.add_argument("--shard-lines", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--warmup-lines", type=int, default=100)
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",")]

    from bench.shard_profile import Profile, raw_texts_per_s
    from handler.batch import table
    from handler.batch.part_run import GROUP_INPUTS
    from handler.batch.service import BatchService
    from handler.embedder import load_embedder
    from handler.settings import Settings
    from handler.usage import store
    from handler.usage.service import UsageService
    from tools.dynamodb_local import LOCAL_ENV, DynamoDBLocal
    from tools.moto_server import MotoServer

    os.environ.update(LOCAL_ENV)
    profile = Profile()
    profile.install()  # before the service builds its clients
    with MotoServer() as moto, DynamoDBLocal() as ddb:
        os.environ["AWS_ENDPOINT_URL_S3"] = os.environ["AWS_ENDPOINT_URL_SQS"] = moto.endpoint_url
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = ddb.endpoint_url
        suffix = uuid.uuid4().hex[:8]
        settings = replace(
            Settings.from_env(),
            model_dir=Path(os.environ.get("MODEL_DIR", REPO / "build" / "model")),
            batch_bucket=f"bench-{suffix}",
            batch_table=f"bench-batches-{suffix}",
            batch_queue_url=moto.client("sqs").create_queue(QueueName=f"bench-{suffix}")[
                "QueueUrl"
            ],
            batch_shard_lines=args.shard_lines,
            keys_table=f"bench-keys-{suffix}",
            usage_table=f"bench-usage-{suffix}",
        )
        moto.client("s3").create_bucket(Bucket=settings.batch_bucket)
        client = ddb.client("dynamodb")
        table.create_table(client, settings.batch_table)
        store.create_tables(client, settings.keys_table, settings.usage_table)
        service = BatchService.from_settings(settings)
        usage = UsageService.from_settings(settings)
        workers = [
            service.worker(load_embedder(settings.model_dir, threads=1), usage)
            for _ in range(max(counts))
        ]
        data = rows(args.lines)
        one_round(service, workers[:1], rows(args.warmup_lines))
        seconds: dict[int, list[float]] = {c: [] for c in counts}
        texts = [orjson.loads(line)["body"]["input"] for line in data.splitlines()]
        raw: list[float] = []
        for _ in range(args.rounds):
            for count in counts:
                seconds[count].append(one_round(service, workers[:count], data))
            # the raw embedder, interleaved with the rounds: the same texts, 1 thread
            embedder = workers[0].models.embedder(workers[0].models.default.id)
            raw.append(raw_texts_per_s(embedder, texts, GROUP_INPUTS, rounds=1))
        phases = profiled_run(service, workers[0], data, profile)
    result = {
        "cpu_model": cpu_model(),
        "isa": platform.machine(),
        "nproc": os.cpu_count(),
        "lines": args.lines,
        "mean_tokens": round(mean_tokens(workers[0], data), 2),
        "shard_lines": args.shard_lines,
        "rounds": args.rounds,
        "lines_per_s": {str(c): round(args.lines / median(seconds[c]), 1) for c in counts},
        "seconds": {str(c): [round(s, 2) for s in seconds[c]] for c in counts},
        "raw_embedder_texts_per_s": round(median(raw), 1),
        "raw_embedder_texts_per_s_rounds": [round(r, 1) for r in raw],
        "one_worker_share_of_raw": round(
            args.lines / median(seconds[1]) / median(raw), 3
        ) if 1 in seconds else None,
        "profile": profile.report(),
        "plan_s": round(phases["plan_s"], 3),
        "finalize_s": round(phases["finalize_s"], 3),
        "shards": -(-args.lines // args.shard_lines),
    }  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
