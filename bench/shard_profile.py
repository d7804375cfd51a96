"""Where a batch shard's time goes (the `batch` section's profile, for bench/workers/batch.py).

One worker handles a batch's messages inline, on this thread, as a Lambda worker does one
message per invocation: the plan, each shard, the finalization. Measured per shard run:

- wall time and this process's CPU time (the other workers are idle then; moto's server and
  DynamoDB Local are other processes, so their work is a wait here, as AWS's would be);
- the wall time of every AWS call made on this thread, per service (botocore's before-call /
  after-call events): the waits, which Lambda bills as duration like CPU;
- stages of the line path, by wrapping the functions that do them (nested stages are
  subtracted from their parent, so the stages add up to the CPU path): reading/parsing the
  line's JSON, the request's validation, the tokenizer, the model, the output line's
  serialisation.

Waits are priced twice: as measured on loopback, and with typical AWS latencies (TYPICAL_MS),
each call counted once at its typical latency. The raw embedder (tokenize + model, in groups
of GROUP_INPUTS, on the same texts, at 1 thread) is timed in the same process, so the
worker's lines/s can be read as a share of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.client_watch import watch_new_clients

# Typical latencies on AWS, inside one region, for the calls a shard makes (milliseconds).
# S3: "for small requests (for example, less than 512 KB) ... median latencies often in the
# tens of milliseconds range" (AWS whitepaper "Best Practices Design Patterns: Optimizing
# Amazon S3 Performance", Timeouts and Retries for Latency-Sensitive Applications,
# https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/
# timeouts-and-retries-for-latency-sensitive-applications.html): 30 ms taken.
# DynamoDB: "single-digit millisecond performance at any scale"
# (https://aws.amazon.com/dynamodb/): 5 ms taken, 10 ms for a transaction (two phases).
# SQS: a SendMessage is a small HTTPS request like DynamoDB's; 10 ms taken (no AWS figure).
# Kinesis: a PutRecord is replicated to three AZs before it returns; AWS publishes no latency
# figure for it: 10 ms taken, as SQS (the bill prints what 10 ms more would cost).
TYPICAL_MS = {
    "s3": 30.0,
    "dynamodb": 5.0,
    "dynamodb_transaction": 10.0,
    "sqs": 10.0,
    "kinesis": 10.0,
}

STAGES = ("parse", "validation", "tokenizer", "model", "serialisation")


@dataclass
class Profile:
    """Sums over the runs profiled."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    lines: int = 0
    stages_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    waits_s: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _thread: int = 0  # the thread being profiled, while a run is on (0: none)
    _stack: list[list[float]] = field(default_factory=list)

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` with its own time (minus nested timed stages) added to `stage`."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self._thread:
                return fn(*args, **kwargs)
            self._stack.append([0.0])  # time of stages nested inside this call
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                nested = self._stack.pop()[0]
                self.stages_s[stage] += spent - nested
                if self._stack:
                    self._stack[-1][0] += spent

        return wrapper

    def _before(self, context: Any, **_: Any) -> None:
        if threading.get_ident() == self._thread:
            context["profile_started"] = time.perf_counter()

    def _after(self, model: Any, context: Any, **_: Any) -> None:
        started = context.get("profile_started")
        if started is None:
            return
        spent = time.perf_counter() - started
        service = model.service_model.service_name
        if service == "dynamodb" and model.name.startswith("Transact"):
            service = "dynamodb_transaction"
        self.waits_s[service] = self.waits_s.get(service, 0.0) + spent
        self.calls[service] = self.calls.get(service, 0) + 1
        if self._stack:  # a call inside a timed stage is a wait, not that stage's CPU
            self._stack[-1][0] += spent

    def install(self) -> None:
        """Watch every botocore client built from now on (the worker's S3, SQS, DynamoDB),
        for the rest of the process (the profiling worker's)."""
        watch_new_clients(self.watch)

    def watch(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-call", self._before)
        events.register("after-call", self._after)
        events.register("after-call-error", self._after)

    @contextmanager
    def run(self, lines: int) -> Iterator[None]:
        """Count one message's handling (on this thread) and its `lines`."""
        self._thread = threading.get_ident()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall_s += time.perf_counter() - wall
            self.cpu_s += time.process_time() - cpu
            self.lines += lines
            self._thread = 0

    def report(self) -> dict[str, Any]:
        per_line = 1000 / max(self.lines, 1)
        waits = sum(self.waits_s.values())
        typical = {s: n * TYPICAL_MS[s] / 1000 for s, n in self.calls.items() if s in TYPICAL_MS}
        stages = {k: round(v * per_line, 4) for k, v in self.stages_s.items()}
        other = self.wall_s - waits - sum(self.stages_s.values())
        return {
            "lines": self.lines,
            "wall_ms_per_line": round(self.wall_s * per_line, 4),
            "cpu_ms_per_line": round(self.cpu_s * per_line, 4),
            "stages_ms_per_line": {**stages, "other": round(other * per_line, 4)},
            "waits_ms_per_line_local": {
                s: round(v * per_line, 4) for s, v in sorted(self.waits_s.items())
            },
            "calls_per_line": {s: round(n / max(self.lines, 1), 5) for s, n in self.calls.items()},
            "waits_ms_per_line_aws_typical": {
                s: round(v * per_line, 4) for s, v in sorted(typical.items())
            },
            "billed_ms_per_line_local": round(self.wall_s * per_line, 4),
            "billed_ms_per_line_aws_typical": round(
                (self.wall_s - waits + sum(typical.values())) * per_line, 4
            ),
            "typical_ms": TYPICAL_MS,
        }


@contextmanager
def instrumented(profile: Profile, embedder: Any) -> Iterator[None]:
    """Wrap the line path's stages (module attributes, restored after)."""
    from handler.batch import lines, part_run

    patches: list[tuple[Any, str, Any, bool]] = []

    def patch(owner: Any, name: str, stage: str) -> None:
        if hasattr(owner, name):
            original = getattr(owner, name)
            patches.append((owner, name, original, name in vars(owner)))
            setattr(owner, name, profile.timed(stage, original))

    # prepare_line's own time is the line's JSON parse and checks; validation, tokenizer
    # nested inside it are subtracted.
    patch(part_run, "prepare_line", "parse")
    patch(part_run, "expired_line", "parse")
    patch(lines, "parse_embedding_request", "validation")
    patch(lines, "validate_embedding_request", "validation")
    patch(embedder, "tokenize", "tokenizer")
    patch(embedder, "run", "model")
    patch(lines, "_answer", "serialisation")
    try:
        yield
    finally:
        for owner, name, original, own in reversed(patches):
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)  # an instance's wrapper: its class's method shows again


def raw_texts_per_s(embedder: Any, texts: list[str], group: int, rounds: int = 3) -> float:
    """The embedder alone (tokenize + model) over `texts` in groups of `group`: median texts/s."""
    from bench.stats import median

    speeds = []
    for _ in range(rounds):
        started = time.perf_counter()
        for at in range(0, len(texts), group):
            embedder.run(embedder.tokenize(texts[at : at + group]))
        speeds.append(len(texts) / (time.perf_counter() - started))
    return median(speeds)
