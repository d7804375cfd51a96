"""How long 10M batch inputs take at a worker concurrency, cold starts counted (the `batch`
section's `ten_million_time`).

The job is 200 batches of 50,000 lines (bench/bill_scale.py's Job) in template-sized shards,
all submitted at once. With `concurrency` containers:

    planning + waves x shard duration + one cold start per container + finalization

- waves: ceil(shards / concurrency) rounds of shards, each as long as one shard at the
  measured one-worker lines/s (each container has its own vCPU);
- one cold start per container (bench/workers/batch_cold.py: a fresh process importing
  handler.batch.lambda_worker, the model load, the first pass's extra), paid once, in the
  first wave;
- planning and finalization of one batch (measured on the section's batch, scaled to 50,000
  lines and its shards), once on the critical path: batches plan and finalize in parallel.

That is the schedule at full concurrency from the start. Lambda's SQS event source does not
start there: it begins with 5 concurrent invocations and adds up to 300 a minute
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html), so `ramped` also
gives the time when concurrency follows that ramp (the shards' worker-seconds filled under it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.bill_scale import Job

SQS_START_CONCURRENCY = 5  # AWS Lambda docs, services-sqs-scaling (see the module docstring)
SQS_ADDED_PER_MINUTE = 300


@dataclass(frozen=True)
class Measured:
    lines_per_s: float  # one worker, one vCPU, at the template's shard size
    cold_start_s: float  # one container's (median of fresh processes)
    plan_s: float  # one batch's planning, on a batch of `lines` lines in `shards` shards
    finalize_s: float  # its finalization
    lines: int
    shards: int


def ramp_seconds(worker_seconds: float, limit: int) -> float:
    """Seconds until `worker_seconds` of work is done when concurrency starts at
    SQS_START_CONCURRENCY and grows SQS_ADDED_PER_MINUTE a minute up to `limit`."""
    start, rate = SQS_START_CONCURRENCY, SQS_ADDED_PER_MINUTE / 60
    start = min(start, limit)
    ramp_s = (limit - start) / rate  # time to reach the limit
    ramp_work = start * ramp_s + rate * ramp_s**2 / 2
    if worker_seconds >= ramp_work:
        return ramp_s + (worker_seconds - ramp_work) / limit
    # start * t + rate * t^2 / 2 = worker_seconds
    return (-start + math.sqrt(start**2 + 2 * rate * worker_seconds)) / rate


def ten_million_time(measured: Measured, job: Job, concurrency: int) -> dict[str, Any]:
    """Minutes for `job` at `concurrency` workers: in waves, and under the SQS ramp."""
    shard_s = job.shard_lines / measured.lines_per_s
    waves = -(-job.shards // concurrency)
    # Planning reads the file and writes a shard item each; finalization copies each shard's
    # parts: both taken in proportion to the batch's size (what was measured on a smaller one).
    plan_s = measured.plan_s * job.batch_lines / measured.lines
    shards_per_batch = -(-job.batch_lines // job.shard_lines)
    finalize_s = measured.finalize_s * shards_per_batch / measured.shards
    fixed_s = plan_s + measured.cold_start_s + finalize_s
    waves_s = waves * shard_s + fixed_s
    # the last shards cannot split: the fill ends at most one shard before the last finishes
    ramped_s = ramp_seconds(job.shards * shard_s, concurrency) + shard_s + fixed_s
    return {
        "concurrency": concurrency,
        "shards": job.shards,
        "shard_s": round(shard_s, 2),
        "waves": waves,
        "plan_s": round(plan_s, 2),
        "cold_start_s": round(measured.cold_start_s, 2),
        "finalize_s": round(finalize_s, 2),
        "seconds": round(waves_s, 2),
        "minutes": round(waves_s / 60, 2),
        "seconds_sqs_ramp": round(ramped_s, 2),
        "minutes_sqs_ramp": round(ramped_s / 60, 2),
    }
