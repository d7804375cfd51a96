"""The batch worker: one queue message at a time, plan a batch or run one shard, and the last
shard to finish finalizes the batch.

Messages: {"kind": "plan", "batch_id"} (sent by POST /v1/batches) and
{"kind": "shard", "batch_id", "shard"} (sent by the plan). Every step may run twice (SQS
delivers at least once; a worker may die anywhere) and gives the same result:

- a shard embeds consecutive valid lines in one model pass (GROUP_INPUTS inputs), writes
  its output and error lines to deterministic S3 keys (a rerun overwrites), records usage per
  line under the idempotency key "<batch id>:<line>" (the ledger writes each once, a group of
  lines per transaction), and only then is marked finished, with its counts, in one
  conditional transaction;
- a shard message for a finished shard only retries the finalization;
- finalizing assembles the result files under deterministic ids and changes the status
  conditionally.

Failure policy: anything unexpected (S3, DynamoDB, the model) propagates, so the message is
not deleted and comes back after the visibility timeout; a line's own problem goes to the
error file instead.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from handler.batch import batches as b
from handler.batch.batches import BatchStore, Shard
from handler.batch.concat import S3Writer, concat_objects
from handler.batch.files import CHUNK_BYTES, PURPOSE_OUTPUT, FileStore
from handler.batch.jsonl import split_lines
from handler.batch.lines import (
    LineResult,
    PreparedLine,
    embed_lines,
    expired_line,
    prepare_line,
    request_id,
)
from handler.batch.planner import PlanError, plan_shards
from handler.embedder import Embedder
from handler.hooks import UsageRecord
from handler.settings import Settings

OUTPUT, ERRORS = "output", "errors"
# Inputs of consecutive valid lines embedded in one model pass (a batch-invariant artifact
# gives each the vectors of its request alone); bounds the vectors a worker holds at once.
GROUP_INPUTS = 256


def result_file_id(batch_id: str, kind: str) -> str:
    return "file-" + hashlib.sha256(f"{batch_id}:{kind}".encode()).hexdigest()[:24]


def shard_key(batch_id: str, index: int, kind: str) -> str:
    return f"batches/{batch_id}/shards/{index:05d}.{kind}.jsonl"


class UsageNotRecordedError(RuntimeError):
    """The ledger could not take a shard's usage; the message is retried."""


class LineRecorder(Protocol):
    """The usage ledger as the worker uses it (handler.usage.service.UsageService): records
    of many lines at once, exactly once each by request id; never raises for DynamoDB, and
    says "logged" for a record it could keep only in the log (handler.usage.recorder)."""

    def record_many(self, usages: Sequence[UsageRecord]) -> Sequence[str]: ...


@dataclass
class Worker:
    settings: Settings
    embedder: Embedder
    files: FileStore
    batches: BatchStore
    send: Callable[[dict[str, Any]], None]  # puts a message on the work queue
    recorder: LineRecorder
    clock: Callable[[], float] = time.time  # tests move it past a batch's window
    # Called once per shard this worker finished (not for a redelivery the transaction
    # refused): batch id, shard, lines completed, lines failed, milliseconds. The Lambda
    # worker emits it as EMF metrics (handler/metrics.ShardMetrics).
    on_shard: Callable[[str, int, int, int, float], None] | None = None

    def handle(self, message: dict[str, Any]) -> None:
        if message.get("kind") == "plan":
            self.plan(str(message["batch_id"]))
        elif message.get("kind") == "shard":
            self.run_shard(str(message["batch_id"]), int(message["shard"]))
        else:
            raise ValueError(f"unknown batch message {message!r}")

    # -- planning -------------------------------------------------------------------------

    def plan(self, batch_id: str) -> None:
        batch = self.batches.get(batch_id)
        if batch is None:
            return
        if batch["status"] == b.CANCELLING and not batch["shards_total"]:
            self.batches.transition(batch_id, (b.CANCELLING,), b.CANCELLED)
            return
        if batch["status"] == b.VALIDATING and not self._plan_validating(batch):
            return
        # (Re)send the pending shards: a plan that died after its transition resends them
        # all, and a shard run twice is harmless. After a cancel they are still sent, to be
        # skipped: the last one to finish is what makes the batch cancelled.
        batch = self.batches.get(batch_id) or batch
        if batch["status"] not in (b.IN_PROGRESS, b.CANCELLING):
            return
        for index in range(1, batch["shards_total"] + 1):
            shard = self.batches.get_shard(batch_id, index)
            if shard is not None and shard.state == b.PENDING:
                self.send({"kind": "shard", "batch_id": batch_id, "shard": index})

    def _plan_validating(self, batch: dict[str, Any]) -> bool:
        batch_id = batch["id"]
        source = self.files.get(batch["owner"], batch["input_file_id"])
        if source is None:
            return self._fail(batch_id, "file_not_found", "The input file no longer exists.")
        try:
            plan = plan_shards(
                batch_id,
                self.files.content(source),
                self.settings.batch_shard_lines,
                self.settings.max_body_bytes,
            )
        except PlanError as exc:
            return self._fail(batch_id, exc.code, exc.message)
        self.batches.add_shards(batch_id, plan.shards)
        started = self.batches.transition(
            batch_id,
            (b.VALIDATING,),
            b.IN_PROGRESS,
            total=plan.total,
            shards_total=len(plan.shards),
        )
        if not started:  # cancelled while we read the file
            self.batches.transition(batch_id, (b.CANCELLING,), b.CANCELLED)
        return started

    def _fail(self, batch_id: str, code: str, message: str) -> bool:
        errors = {
            "object": "list",
            "data": [{"code": code, "message": message, "param": None, "line": None}],
        }
        self.batches.transition(batch_id, (b.VALIDATING,), b.FAILED, errors=errors)
        return False

    # -- shards ---------------------------------------------------------------------------

    def run_shard(self, batch_id: str, index: int) -> None:
        batch = self.batches.get(batch_id)
        shard = self.batches.get_shard(batch_id, index)
        if batch is None or shard is None:
            return
        if shard.state == b.PENDING:
            if batch["status"] == b.IN_PROGRESS:
                # Past the completion window, the shard's lines fail with batch_expired (as
                # OpenAI's do) and the batch ends `expired`, keeping what was done in time.
                expired = self.clock() > batch["expires_at"]
                started = time.perf_counter()
                completed, failed = self._embed_shard(batch, shard, expired)
                if expired:
                    self.batches.mark_expired(batch_id)
                finished = self.batches.finish_shard(batch_id, index, b.DONE, completed, failed)
                if finished and self.on_shard is not None:
                    ms = (time.perf_counter() - started) * 1000
                    self.on_shard(batch_id, index, completed, failed, ms)
            else:  # cancelling (or over): cancel stops new shards
                self.batches.finish_shard(batch_id, index, b.SKIPPED, 0, 0)
        self.finalize_if_last(batch_id)

    def _embed_shard(self, batch: dict[str, Any], shard: Shard, expired: bool) -> tuple[int, int]:
        """Write the shard's output and error objects; returns (completed, failed)."""
        batch_id, owner = batch["id"], batch["owner"]
        source = self.files.get(owner, batch["input_file_id"])
        if source is None:
            raise RuntimeError(f"input file of {batch_id} vanished mid-batch")
        body = self.files.read_range(source.s3_key, shard.start, shard.end)
        s3, bucket = self.files.s3, self.files.bucket
        completed = failed = 0
        with (
            S3Writer(s3, bucket, shard_key(batch_id, shard.index, OUTPUT)) as out,
            S3Writer(s3, bucket, shard_key(batch_id, shard.index, ERRORS)) as err,
        ):
            # Lines in order; the valid ones are embedded together when a group is full.
            group: list[PreparedLine | LineResult] = []
            inputs = 0
            lines = split_lines(
                body.iter_chunks(CHUNK_BYTES),
                first_number=shard.first_line,
                offset=shard.start,
                max_line_bytes=self.settings.max_body_bytes,
                file_start=shard.start == 0,
            )
            for line in lines:
                line_no, raw = line.number, line.raw
                if expired:
                    item: PreparedLine | LineResult = expired_line(raw, line_no, batch_id)
                else:
                    item = prepare_line(
                        raw, line_no, batch_id, batch["endpoint"], self.embedder, self.settings
                    )
                group.append(item)
                inputs += len(item.tokenized.ids) if isinstance(item, PreparedLine) else 0
                if inputs >= GROUP_INPUTS:
                    done, refused = self._answer_group(batch, group, out, err)
                    completed, failed = completed + done, failed + refused
                    group, inputs = [], 0
            done, refused = self._answer_group(batch, group, out, err)
        return completed + done, failed + refused

    def _answer_group(
        self,
        batch: dict[str, Any],
        group: list[PreparedLine | LineResult],
        out: S3Writer,
        err: S3Writer,
    ) -> tuple[int, int]:
        """Embed the group's valid lines in one pass, write every line's result in order and
        record the usage; returns (completed, failed)."""
        batch_id, owner = batch["id"], batch["owner"]
        waiting = [item for item in group if isinstance(item, PreparedLine)]
        started = time.perf_counter()
        answers = iter(embed_lines(waiting, batch_id, self.embedder))
        elapsed_ms = (time.perf_counter() - started) * 1000
        group_tokens = max(sum(line.prompt_tokens for line in waiting), 1)
        records = []
        for item in group:
            if isinstance(item, PreparedLine):
                result = next(answers)
                out.write(result.line)
                share = elapsed_ms * item.prompt_tokens / group_tokens
                records.append(_usage(owner, batch_id, item.line_no, result, share))
            else:
                err.write(item.line)
        if "logged" in self.recorder.record_many(records):
            # In neither DynamoDB nor the fallback queue: run the shard again later (its
            # records are idempotent) rather than leave them to a replay from the logs.
            raise UsageNotRecordedError(f"usage of batch {batch_id} not recorded")
        return len(waiting), len(group) - len(waiting)

    # -- finalizing -----------------------------------------------------------------------

    def finalize_if_last(self, batch_id: str) -> None:
        batch = self.batches.get(batch_id)
        if batch is None or not batch["shards_total"]:
            return
        if batch["shards_done"] < batch["shards_total"]:
            return
        if batch["status"] == b.IN_PROGRESS:
            self.batches.transition(batch_id, (b.IN_PROGRESS,), b.FINALIZING)
            batch = self.batches.get(batch_id) or batch  # or a cancel got in first
        if batch["status"] not in (b.FINALIZING, b.CANCELLING):
            return
        ids: dict[str, str | None] = {"output_file_id": None, "error_file_id": None}
        for kind, count, field in (
            (OUTPUT, batch["completed"], "output_file_id"),
            (ERRORS, batch["failed"], "error_file_id"),
        ):
            if count:
                ids[field] = self._assemble(batch, kind)
        if batch["status"] == b.CANCELLING:
            final = b.CANCELLED
        else:
            final = b.EXPIRED if batch.get("expired") else b.COMPLETED
        self.batches.transition(batch_id, (batch["status"],), final, **ids)

    def _assemble(self, batch: dict[str, Any], kind: str) -> str:
        batch_id, owner = batch["id"], batch["owner"]
        done = [
            index
            for index in range(1, batch["shards_total"] + 1)
            if (shard := self.batches.get_shard(batch_id, index)) and shard.state == b.DONE
        ]
        file_id = result_file_id(batch_id, kind)
        key = self.files.object_key(owner, file_id)
        sources = (shard_key(batch_id, index, kind) for index in done)
        size = concat_objects(self.files.s3, self.files.bucket, sources, key)
        self.files.record(owner, file_id, key, size, f"{batch_id}_{kind}.jsonl", PURPOSE_OUTPUT)
        return file_id


def _usage(
    owner: str, batch_id: str, line_no: int, result: LineResult, latency_ms: float
) -> UsageRecord:
    return UsageRecord(
        request_id=request_id(batch_id, line_no),
        key_id=owner,  # ANONYMOUS when auth is off, as the ledger names it
        model=result.model,
        requested_model=result.requested_model,
        prompt_tokens=result.prompt_tokens,
        total_tokens=result.prompt_tokens,
        inputs=result.input_count,
        dimensions=result.dimensions,
        encoding_format=result.encoding_format,
        user=result.user,
        truncated_inputs=result.truncated,
        latency_ms=round(latency_ms, 3),
        timestamp=time.time(),  # the ledger stamps its own clock
    )


def decode(body: str | bytes) -> dict[str, Any]:
    message = orjson.loads(body)
    if not isinstance(message, dict):
        raise ValueError("a batch message is a JSON object")
    return message
