"""Where things are and how much to measure: one place for paths, thread count and run sizes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.prices import PRICE_DATE as PRICE_DATE  # re-exported: cost.py reads it here
from bench.prices import PRICES

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
# The second model every section that serves two uses (`make models` builds it).
FP32_MODEL_DIR = Path(os.environ.get("MODELS_DIR", str(BUILD / "models"))) / "all-MiniLM-L6-v2-fp32"
if not FP32_MODEL_DIR.is_absolute():
    FP32_MODEL_DIR = REPO / FP32_MODEL_DIR
CORPUS = REPO / "model_artifacts" / "corpus" / "heldout.txt"
RESULTS = REPO / "bench" / "results"

# List prices come from one table with its date and sources (bench/prices.py); these names
# are the ones the cost and batch estimates have always used.
PRICE_SOURCE = "AWS list prices, us-east-1 (bench/prices.py)"
ARM64_GB_SECOND_USD = PRICES["lambda_arm64_gb_second"].usd
REQUEST_USD_PER_MILLION = PRICES["lambda_request"].usd
OPENAI_3_SMALL_USD_PER_MILLION_TOKENS = PRICES["openai_3_small_token"].usd
OPENAI_3_SMALL_BATCH_USD_PER_MILLION_TOKENS = PRICES["openai_3_small_batch_token"].usd
DYNAMODB_USD_PER_MILLION_WRU = PRICES["dynamodb_write_unit"].usd
SQS_USD_PER_MILLION_REQUESTS = PRICES["sqs_request"].usd
S3_PUT_USD_PER_THOUSAND = PRICES["s3_put"].usd
S3_GET_USD_PER_THOUSAND = PRICES["s3_get"].usd
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
    batch_shards: int  # full shards in the batch section's input file (one input a line)
    batch_shard_lines: int  # lines per shard (one queue message; 0: the template's BatchShardLines)
    batch_rounds: int  # interleaved rounds per worker count (median quoted)
    batch_workers: str  # worker counts, comma-separated
    batch_cold_runs: int  # fresh batch worker processes timed for its cold start (median)
    long_rounds: int  # interleaved rounds of one 8,192-token input vs its tokens as short inputs
    long_request_inputs: int  # 8,192-token inputs in the largest request (36 fill 300,000)
    bill_requests: int  # measured requests per (workload, key) of the bill section, 1 and 32 inputs
    bill_big_requests: int  # measured requests of `big_inputs` inputs per key
    bill_batch_lines: int  # lines of the bill section's batch (one input each; 0: two shards)
    bill_shard_lines: int  # lines per shard of that batch (0: the template's BatchShardLines)
    encoding_rounds: int  # interleaved serialisation rounds per encoding (median quoted)
    encoding_recall: bool  # measure recall per encoding here (else the manifest's figures)


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
    batch_shards=2,  # two 5,000-line shards: one worker runs both, two run one each
    batch_shard_lines=0,
    batch_rounds=3,
    batch_workers="1,2",  # 4 workers on 2 shards and 2 cores would only contend
    batch_cold_runs=5,
    long_rounds=5,
    long_request_inputs=36,
    bill_requests=20,
    bill_big_requests=2,
    bill_batch_lines=0,  # two full shards: a shard's fixed calls weigh as deployed
    bill_shard_lines=0,
    encoding_rounds=7,
    encoding_recall=True,
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
    batch_shards=4,
    batch_shard_lines=10,
    batch_rounds=1,
    batch_workers="1,2",
    batch_cold_runs=1,
    long_rounds=1,
    long_request_inputs=2,
    bill_requests=2,
    bill_big_requests=1,
    bill_batch_lines=20,
    bill_shard_lines=10,
    encoding_rounds=1,
    encoding_recall=False,
)
