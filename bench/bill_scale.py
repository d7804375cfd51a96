"""A measured batch scaled to many inputs in real batches (the bill's 10M-input figure).

bench/bill_batch.py counts one batch by phase: its API requests (upload, create, status,
download) and plan invocation happen once per batch; its shard invocations (each with its
event source's receive and delete; the last shard's also finalizes, whose part copies are
per shard) once per shard. A job of `inputs` one-input lines is priced as batches of at
most `batch_lines` (OpenAI's limit, handler/batch/planner.py) in shards of `shard_lines`:

- a phase's calls (invocations, requests, DynamoDB units, SQS, S3, log bytes, traces) are
  counted once per batch or once per shard;
- its billed milliseconds grow with the lines it handles: a shard's per line; a batch's in
  proportion to its lines (upload, plan and download read the whole file), which also
  scales the few fixed milliseconds of a batch: an upper bound, and a small one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from handler.batch.planner import MAX_REQUESTS

PER_LINE = ("billed_ms",)  # what grows with lines; every other count is per call


@dataclass(frozen=True)
class Job:
    """`inputs` one-input lines in batches of `batch_lines`, shards of `shard_lines`."""

    inputs: int
    shard_lines: int
    batch_lines: int = MAX_REQUESTS

    @property
    def batches(self) -> int:
        return -(-self.inputs // self.batch_lines)

    @property
    def shards(self) -> int:
        full, rest = divmod(self.inputs, self.batch_lines)
        return full * -(-self.batch_lines // self.shard_lines) + -(-rest // self.shard_lines)


def scaled(
    per_batch: Mapping[str, float],
    per_shard: Mapping[str, float],
    measured_lines: int,
    measured_shards: int,
    job: Job,
) -> dict[str, float]:
    """The job's counts from one measured batch of `measured_lines` lines in
    `measured_shards` shards: `per_batch` its batch phases' totals, `per_shard` its shard
    phases' totals (both as bench/bill.py's count_of returns them)."""
    total: dict[str, float] = {}
    for name, value in per_batch.items():
        if name in PER_LINE:  # in proportion to the batch's lines
            value = value / measured_lines * job.inputs
        else:
            value = value * job.batches
        total[name] = total.get(name, 0.0) + value
    for name, value in per_shard.items():
        if name in PER_LINE:
            value = value / measured_lines * job.inputs
        else:
            value = value / measured_shards * job.shards
        total[name] = total.get(name, 0.0) + value
    return total
