"""A measured batch scaled to 10M inputs in real batches (bench/bill_scale.py, bench/bill.py's
batch_ten_million), against hand-computed cases."""

from __future__ import annotations

import pytest

from bench import bill
from bench.bill_scale import Job, scaled
from bench.prices import PRICES

pytestmark = pytest.mark.unit


def test_ten_million_inputs_are_200_batches_of_50000_in_2000_shards() -> None:
    job = Job(10_000_000, 5_000)
    assert (job.batches, job.shards) == (200, 2_000)


def test_a_partial_last_batch_has_its_own_partial_shard() -> None:
    # 50,000 + 50,000 + 20,000 lines: 10 + 10 + 4 shards
    job = Job(120_000, 5_000)
    assert (job.batches, job.shards) == (3, 24)


def test_shards_that_do_not_divide_a_batch_leave_a_short_one_in_each() -> None:
    # 50,000 / 3,000 = 16 full shards and one of 2,000, in each of 200 batches
    assert Job(10_000_000, 3_000).shards == 200 * 17


def test_calls_scale_per_batch_and_per_shard_and_billed_ms_per_line() -> None:
    per_batch = {"invocations": 1.0, "billed_ms": 400.0, "s3_put": 2.0}
    per_shard = {"invocations": 2.0, "billed_ms": 20_000.0, "s3_put": 10.0}
    total = scaled(per_batch, per_shard, 10_000, 2, Job(10_000_000, 5_000))
    assert total == {
        "invocations": 1 * 200 + 2 / 2 * 2_000,  # 2,200
        "billed_ms": 400 / 10_000 * 1e7 + 20_000 / 10_000 * 1e7,  # 20,400,000
        "s3_put": 2 * 200 + 10 / 2 * 2_000,  # 10,400
    }


def test_the_ten_million_bill_prices_each_phase_at_its_memory() -> None:
    # GIVEN a batch of 1,000 lines in two 500-line shards: two API requests of 10 ms, a plan
    # of 50 ms and two shard invocations of 1,000 ms each
    measured = {
        "lines": 1_000,
        "tokens": 20_000,
        "api": {"invocation_ms": [10.0, 10.0], "request_bytes": [100, 0],
                "response_bytes": [100, 100]},
        "worker_phases": {"batch": {"invocation_ms": [50.0]},
                          "shard": {"invocation_ms": [1_000.0, 1_000.0]}},
    }  # fmt: skip
    tracing = {"active": False, "sampling": 0.0}
    # WHEN 10M inputs are priced with the worker at 1,769 MB and the API at 2,048 MB
    result = bill.batch_ten_million(measured, tracing, 1769, 500, api_memory_mb=2048)
    # THEN 200 batches and 20,000 shards; durations per line, invocations per phase unit
    assert (result["batches"], result["shards"]) == (200, 20_000)
    gb_s = PRICES["lambda_arm64_gb_second"].each
    api_gb_s = 20 / 1_000 * 1e7 / 1000 * 2  # 200 s at 2 GB
    worker_gb_s = (50 + 2_000) / 1_000 * 1e7 / 1000 * 1769 / 1024  # 20,500 s at 1.73 GB
    parts = result["parts_usd_at_memory_mb"]["1769"]
    assert parts["lambda_duration"] == pytest.approx((api_gb_s + worker_gb_s) * gb_s, abs=1e-4)
    requests = 2 * 200 + 1 * 200 + 20_000  # API, plans, shards
    assert parts["lambda_requests"] == pytest.approx(
        requests * PRICES["lambda_request"].each, abs=1e-4
    )
    # AND at 1,024 MB the worker's time stretches by 1,769 / 1,024 (the vCPU share) at 1 GB:
    # the same GB-seconds; the API's is unchanged
    at_1024 = result["parts_usd_at_memory_mb"]["1024"]
    stretched_gb_s = (50 + 2_000) / 1_000 * 1e7 / 1000 * (1769 / 1024) * 1
    assert stretched_gb_s == pytest.approx(worker_gb_s)
    assert at_1024["lambda_duration"] == pytest.approx((api_gb_s + stretched_gb_s) * gb_s, abs=1e-4)
    assert at_1024["lambda_requests"] == parts["lambda_requests"]
    assert result["openai_batch_usd"] == pytest.approx(
        20 * 1e7 / 1e6 * PRICES["openai_3_small_batch_token"].usd, abs=1e-3
    )
