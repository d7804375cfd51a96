"""Where things are and how much to measure: one place for paths, thread count and run sizes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"

# Every engine gets the same thread count: the machine has 2 cores, Lambda gives 2 vCPUs
# from 3,538 MB up.
THREADS = 2

SERVICE_PY = REPO / ".venv" / "bin" / "python"  # the service's own venv (Python 3.13)
EXPORT_PY = BUILD / "export-venv" / "bin" / "python"  # torch + sentence-transformers (3.11)
BENCH_PY = BUILD / "bench-venv" / "bin" / "python"  # fastembed + matplotlib, bench only

MODEL_DIR = Path(os.environ.get("MODEL_DIR", str(BUILD / "model")))
if not MODEL_DIR.is_absolute():
    MODEL_DIR = REPO / MODEL_DIR
CORPUS = REPO / "model_artifacts" / "corpus" / "heldout.txt"
RESULTS = REPO / "bench" / "results"

# AWS Lambda list prices, us-east-1, arm64 (the figures the project uses as of PRICE_DATE; this
# machine has no internet, so they are not re-read at run time: check them before quoting).
PRICE_DATE = "2026-11-21"
PRICE_SOURCE = "AWS Lambda pricing, us-east-1 arm64"
ARM64_GB_SECOND_USD = 0.0000133334
REQUEST_USD_PER_MILLION = 0.20
OPENAI_3_SMALL_USD_PER_MILLION_TOKENS = 0.02
OPENAI_3_SMALL_BATCH_USD_PER_MILLION_TOKENS = 0.01  # the Batch API's half price
# The batch estimate's other list prices (us-east-1, same date): DynamoDB on-demand writes
# (a transactional write costs 2 WRU per item up to 1 KB), SQS standard requests.
DYNAMODB_USD_PER_MILLION_WRU = 0.625
SQS_USD_PER_MILLION_REQUESTS = 0.40
S3_PUT_USD_PER_THOUSAND = 0.005
S3_GET_USD_PER_THOUSAND = 0.0004
LAMBDA_MB_PER_VCPU = 1769  # Lambda allocates one full vCPU at 1,769 MB
DEFAULT_LAMBDA_MEMORY_MB = 2048  # used only when template.yaml states no default


@dataclass(frozen=True)
class Sizes:
    """How much work each section does; the smoke run only proves every path still runs."""

    corpus_limit: int | None  # texts of the corpus used for throughput; None = all
    throughput_repeats: int  # timed passes over the corpus per engine (median quoted)
    single_requests: int  # warm single-input requests through the Mangum handler
    batch32_requests: int
    big_inputs: int  # inputs in the "large" request (OpenAI's limit is 2048)
    big_requests: int  # per encoding format
    cold_runs: int  # fresh processes per engine (median quoted)
    cold_warmup: bool  # one untimed run per engine first, so the page cache is warm for both
    load_requests: int  # total requests of the load test
    load_clients: int  # concurrent clients of the load test
    usage_requests: int  # requests per arm (auth on / off) of the usage-overhead test
    usage_warmup: int  # untimed requests per arm first (DynamoDB Local's JVM warms up)
    batch_lines: int  # lines of the batch section's input file (one input each)
    batch_shard_lines: int  # lines per shard (one queue message)
    batch_rounds: int  # interleaved rounds per worker count (median quoted)
    batch_workers: str  # worker counts, comma-separated
    long_rounds: int  # interleaved rounds of one 8,192-token input vs its tokens as short inputs
    long_request_inputs: int  # 8,192-token inputs in the largest request (36 fill 300,000)


FULL = Sizes(
    corpus_limit=None,
    throughput_repeats=3,
    single_requests=300,
    batch32_requests=30,
    big_inputs=2048,
    big_requests=3,
    cold_runs=5,
    cold_warmup=True,
    load_requests=2000,
    load_clients=50,
    usage_requests=200,
    usage_warmup=30,
    batch_lines=2000,
    batch_shard_lines=100,
    batch_rounds=3,
    batch_workers="1,2,4",
    long_rounds=5,
    long_request_inputs=36,
)
SMOKE = Sizes(
    corpus_limit=64,
    throughput_repeats=1,
    single_requests=10,
    batch32_requests=2,
    big_inputs=64,
    big_requests=1,
    cold_runs=1,
    cold_warmup=False,
    load_requests=100,
    load_clients=50,
    usage_requests=10,
    usage_warmup=2,
    batch_lines=40,
    batch_shard_lines=10,
    batch_rounds=1,
    batch_workers="1,2",
    long_rounds=1,
    long_request_inputs=2,
)
