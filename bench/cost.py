"""Dollars per million tokens on Lambda arm64, from measured throughput and list prices.

Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB, two at 3,538 MB).
We measured tokens/s here at one and two threads and interpolate to the configured memory's
vCPU share; above two vCPUs we keep the two-thread figure (not measured, so not claimed).
The machine is x86 and Lambda arm64 is Graviton: the figure is an estimate of the order, not
a quote. API Gateway, DynamoDB and init duration are not included.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.config import (
    ARM64_GB_SECOND_USD,
    DEFAULT_LAMBDA_MEMORY_MB,
    DYNAMODB_USD_PER_MILLION_WRU,
    LAMBDA_MB_PER_VCPU,
    OPENAI_3_SMALL_BATCH_USD_PER_MILLION_TOKENS,
    OPENAI_3_SMALL_USD_PER_MILLION_TOKENS,
    PRICE_DATE,
    PRICE_SOURCE,
    REPO,
    REQUEST_USD_PER_MILLION,
    S3_GET_USD_PER_THOUSAND,
    S3_PUT_USD_PER_THOUSAND,
    SQS_USD_PER_MILLION_REQUESTS,
)

OTHER_MEMORY_MB = (1024, 1769, 2048, 3008, 3538)  # what other memory settings would cost
INPUTS_PER_REQUEST = 32  # a typical client batch; only the small per-request charge depends on it
MEMORY_PARAMETER = re.compile(
    r"^\s{2}(\w*Memory\w*):\s*\n((?:\s{4,}.*\n)+)", re.MULTILINE
)  # a Parameters entry such as `  MemorySize:` with its indented body
PARAMETER = re.compile(r"^\s{2}(\w+):\s*\n((?:\s{4,}.*\n)+)", re.MULTILINE)


def configured_memory_mb(template: Path = REPO / "template.yaml") -> tuple[int, str]:
    """The template's default memory parameter, else a literal MemorySize, else our stated
    default; with where the figure came from."""
    if template.is_file():
        text = template.read_text()
        for match in MEMORY_PARAMETER.finditer(text):
            default = re.search(r"^\s+Default:\s*['\"]?(\d+)", match.group(2), re.MULTILINE)
            if default:
                return int(default.group(1)), f"template.yaml parameter {match.group(1)}"
        literal = re.search(r"^\s+MemorySize:\s*(\d+)\s*$", text, re.MULTILINE)
        if literal:
            return int(literal.group(1)), "template.yaml MemorySize"
    return DEFAULT_LAMBDA_MEMORY_MB, "stated (template.yaml has no memory parameter default)"


def tokens_per_s_at(vcpus: float, one_thread: float, two_threads: float) -> float:
    if vcpus <= 1:
        return one_thread * vcpus
    return one_thread + (two_threads - one_thread) * (min(vcpus, 2.0) - 1)


def _at_memory(
    memory_mb: int, one_thread_tps: float, two_thread_tps: float, mean_tokens: float
) -> tuple[float, float, float, float]:
    """(vCPUs, tokens/s, compute USD, request USD) per million tokens at `memory_mb`."""
    vcpus = memory_mb / LAMBDA_MB_PER_VCPU
    tps = tokens_per_s_at(vcpus, one_thread_tps, two_thread_tps)
    compute = 1e6 / tps * memory_mb / 1024 * ARM64_GB_SECOND_USD
    requests = 1e6 / (INPUTS_PER_REQUEST * mean_tokens)
    return vcpus, tps, compute, requests * REQUEST_USD_PER_MILLION / 1e6


def lambda_cost(
    one_thread_tps: float,
    two_thread_tps: float,
    mean_tokens: float,
    template: Path = REPO / "template.yaml",
) -> dict[str, Any]:
    """USD per million of our tokens at the template's memory, with the figures behind it."""
    memory_mb, memory_source = configured_memory_mb(template)
    vcpus, tps, compute, request_charge = _at_memory(
        memory_mb, one_thread_tps, two_thread_tps, mean_tokens
    )
    total = compute + request_charge
    other_sizes = {
        str(mb): round(sum(_at_memory(mb, one_thread_tps, two_thread_tps, mean_tokens)[2:]), 5)
        for mb in OTHER_MEMORY_MB
    }
    return {
        "memory_mb": memory_mb,
        "memory_source": memory_source,
        "vcpus": round(vcpus, 3),
        "tokens_per_s_assumed": round(tps, 1),
        "usd_per_million_tokens": round(total, 5),
        "compute_usd": round(compute, 5),
        "request_usd": round(request_charge, 6),
        "inputs_per_request": INPUTS_PER_REQUEST,
        "openai_text_embedding_3_small_usd": OPENAI_3_SMALL_USD_PER_MILLION_TOKENS,
        "ratio_to_openai": round(total / OPENAI_3_SMALL_USD_PER_MILLION_TOKENS, 3),
        "usd_per_million_tokens_at_memory_mb": other_sizes,
        "prices": {
            "arm64_gb_second_usd": ARM64_GB_SECOND_USD,
            "requests_usd_per_million": REQUEST_USD_PER_MILLION,
            "source": PRICE_SOURCE,
            "date": PRICE_DATE,
        },
        "note": "tokens are our model's (WordPiece) tokens; OpenAI bills its own tokenizer's",
    }


BATCH_INPUTS = 10_000_000
# The ledger takes one record per shard (handler/batch/metering.py: its lines summed), one
# conditional PutItem of an item under 1 KB; the stream aggregator's day updates are one per
# stream batch per key and day, not per shard. The bill section counts it.
USAGE_WRU_PER_SHARD = 1
S3_CALLS_PER_SHARD = (3, 1)  # PUTs (output, errors, result-file part copy) and GETs (range)
SQS_CALLS_PER_SHARD = 3  # send, receive, delete


def parameter_default(name: str, fallback: int, template: Path = REPO / "template.yaml") -> int:
    """A numeric Parameters default of template.yaml, else `fallback`."""
    if template.is_file():
        for match in PARAMETER.finditer(template.read_text()):
            if match.group(1) == name:
                default = re.search(r"^\s+Default:\s*['\"]?(\d+)", match.group(2), re.MULTILINE)
                if default:
                    return int(default.group(1))
    return fallback


def batch_cost(
    lines_per_s: float, mean_tokens: float, template: Path = REPO / "template.yaml"
) -> dict[str, Any]:
    """Worker-hours and USD for BATCH_INPUTS one-input lines on the template's worker (its
    memory and shard size), from one 1-thread worker's measured rate, beside OpenAI's batch
    price for the same tokens: an estimate from the rate; the bill section's counted figure
    (bench/bill.py batch_ten_million) is the all-in one, bench/batch_wall.py the time.

    Assumes one worker container runs at the measured 1-thread rate (a worker below 2 vCPUs
    runs one ONNX thread) and that a Graviton vCPU runs at this machine's per-core rate,
    which is not measured."""
    memory_mb = parameter_default(
        "BatchWorkerMemorySize", configured_memory_mb(template)[0], template
    )
    shard_lines = parameter_default("BatchShardLines", 500, template)
    concurrency = parameter_default("BatchWorkerConcurrency", 10, template)
    worker_seconds = BATCH_INPUTS / lines_per_s
    shards = -(-BATCH_INPUTS // shard_lines)
    compute = worker_seconds * memory_mb / 1024 * ARM64_GB_SECOND_USD
    invocations = shards * REQUEST_USD_PER_MILLION / 1e6
    ledger = shards * USAGE_WRU_PER_SHARD * DYNAMODB_USD_PER_MILLION_WRU / 1e6
    queue = shards * SQS_CALLS_PER_SHARD * SQS_USD_PER_MILLION_REQUESTS / 1e6
    puts, gets = S3_CALLS_PER_SHARD
    storage = shards * (puts * S3_PUT_USD_PER_THOUSAND + gets * S3_GET_USD_PER_THOUSAND) / 1e3
    tokens = BATCH_INPUTS * mean_tokens
    openai = tokens / 1e6 * OPENAI_3_SMALL_BATCH_USD_PER_MILLION_TOKENS
    total = compute + invocations + ledger + queue + storage
    return {
        "inputs": BATCH_INPUTS,
        "concurrency": concurrency,
        "worker_memory_mb": memory_mb,
        "lines_per_s_per_worker": lines_per_s,
        "mean_tokens": mean_tokens,
        "shard_lines": shard_lines,
        "worker_hours": round(worker_seconds / 3600, 2),
        "usd": {
            "lambda_compute": round(compute, 2),
            "lambda_requests": round(invocations, 4),
            "dynamodb_usage_ledger": round(ledger, 2),
            "sqs": round(queue, 4),
            "s3_requests": round(storage, 4),
            "total": round(total, 2),
        },
        "usd_without_ledger": round(total - ledger, 2),
        "openai_batch_usd": round(openai, 2),
        "openai_batch_usd_per_million_tokens": OPENAI_3_SMALL_BATCH_USD_PER_MILLION_TOKENS,
        "prices": {
            "source": PRICE_SOURCE,
            "date": PRICE_DATE,
            "dynamodb_usd_per_million_wru": DYNAMODB_USD_PER_MILLION_WRU,
        },
        "note": (
            "x86 rate applied to arm64 prices; "
            "tokens are ours (WordPiece), OpenAI bills its own; S3 storage and "
            "data transfer excluded"
        ),
    }
