"""A request's billed time split into its own work and its waits on AWS, each wait priced
twice: as measured here (DynamoDB Local and moto's server on loopback) and at a typical AWS
latency (bench/shard_profile.py's TYPICAL_MS, with its sources), so the bill's figure does not
depend on how fast this machine's stand-ins answer.

A wait on the invoking thread adds to the invocation's wall time; the AWS-typical invocation
is its wall time less those waits plus each such call once at its typical latency (a retry is
the same call: AWS's figure is per call). Calls made on another thread overlap the request's
own work, so they are reported but moved neither way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bench.shard_profile import TYPICAL_MS


def wait_key(service: str, operation: str) -> str:
    """The TYPICAL_MS row a call is priced at."""
    if service == "dynamodb" and operation.startswith("Transact"):
        return "dynamodb_transaction"
    return service


def split(calls: Iterable[Any], thread: int) -> dict[str, dict[str, float]]:
    """One invocation's waits by TYPICAL_MS row: `local` and `aws_typical` for the calls made
    on `thread` (the invoking one), `overlapped` (local) for the others."""
    local: dict[str, float] = {}
    typical: dict[str, float] = {}
    overlapped: dict[str, float] = {}
    for call in calls:
        key = wait_key(call.service, call.operation)
        if call.thread and call.thread != thread:
            overlapped[key] = overlapped.get(key, 0.0) + call.ms
            continue
        local[key] = local.get(key, 0.0) + call.ms
        typical[key] = typical.get(key, 0.0) + TYPICAL_MS.get(key, TYPICAL_MS["dynamodb"])
    return {"local": local, "aws_typical": typical, "overlapped": overlapped}


def aws_typical_ms(wall_ms: float, waits: dict[str, dict[str, float]]) -> float:
    """The invocation's wall time with its on-thread waits at AWS-typical latencies."""
    return wall_ms - sum(waits["local"].values()) + sum(waits["aws_typical"].values())


def summed(per_invocation: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per-invocation splits added up, per kind and row."""
    total: dict[str, dict[str, float]] = {}
    for waits in per_invocation:
        for kind, rows in waits.items():
            into = total.setdefault(kind, {})
            for key, ms in rows.items():
                into[key] = into.get(key, 0.0) + ms
    return total
