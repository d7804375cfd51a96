"""The batch worker: one queue message at a time, plan a batch or run one shard, and the last
shard to finish finalizes the batch.

Messages: {"kind": "plan", "batch_id"} (sent by POST /v1/batches),
{"kind": "shard", "batch_id", "shard"} (sent by the plan, and by a run that stopped short)
and {"kind": "finalize", "batch_id"} (a finalization that stopped short). Every step may run
twice (SQS delivers at least once; a worker may die anywhere) and gives the same result:

- a shard runs as parts (handler/batch/part_run.py, parts.py), each holding one of its key's
  slots (leases.py): a run embeds consecutive valid lines in model passes bounded in inputs
  and tokens, writes the part's output and error lines to deterministic S3 keys (a rerun
  overwrites), then its manifest, then counts the part in the shard's checkpoint
  (conditional), and only then records the part's usage: one record of its delivered lines
  summed, under the idempotency key "<batch id>:shard:<n>:part:<m>" (metering.py; the ledger
  writes each once; a part counted by a run that died before billing it is billed from its
  manifest by the next). A run short of time stops after its
  current model pass and queues the rest of the shard, so a shard never starts over;
- a shard with every line answered (or cancelled, or whose batch failed) is finished, with
  its counts, in one conditional transaction; a message for a finished shard only retries
  the finalization;
- finalizing assembles the result files under deterministic ids, in resumable steps
  (assembly.py), and changes the status conditionally.

Failure policy: anything wrong with one line's content becomes that line's error line; only
store or model failures propagate, so the message is not deleted and comes back after the
visibility timeout. On its MAX_RECEIVES-th delivery a message is not tried again: its batch
ends `failed` with OpenAI's `errors` (the lines answered so far stay in its files) rather
than retrying until the dead-letter queue and the expiry a day later.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson

from handler.batch import batches as b
from handler.batch.admission import LineAdmission, OpenAdmission
from handler.batch.assembly import assemble
from handler.batch.batches import BatchStore, Shard
from handler.batch.files import PURPOSE_OUTPUT, FileStore
from handler.batch.leases import WAIT_SECONDS, ShardLeases
from handler.batch.part_run import PartRun
from handler.batch.parts import ERRORS, OUTPUT, part_key, part_name, read_manifest
from handler.batch.planner import PlanError, plan_shards
from handler.embeddings.models import ServedModels
from handler.records import UsageRecord
from handler.settings import Settings

log = logging.getLogger(__name__)
# The delivery on which a message is not tried again (the queue's maxReceiveCount is 5: the
# next failure would dead-letter it, leaving the batch to the expiry sweep a day later).
MAX_RECEIVES = 5


def forever() -> float:
    return float("inf")


def result_file_id(batch_id: str, kind: str) -> str:
    return "file-" + hashlib.sha256(f"{batch_id}:{kind}".encode()).hexdigest()[:24]


class UsageNotRecordedError(RuntimeError):
    """The ledger could not take a part's usage; the message is retried."""


class LineRecorder(Protocol):
    """The usage ledger as the worker uses it (handler.usage.service.UsageService): records
    of many lines at once, exactly once each by request id; never raises for DynamoDB, and
    says "logged" for a record it could keep only in the log (handler.usage.recorder)."""

    def record_many(self, usages: Sequence[UsageRecord]) -> Sequence[str]: ...


@dataclass
class Worker:
    settings: Settings
    models: ServedModels  # every model the deployment serves
    files: FileStore
    batches: BatchStore
    send: Callable[[dict[str, Any]], None]  # puts a message on the work queue
    recorder: LineRecorder
    clock: Callable[[], float] = time.time  # tests move it past a batch's window
    # Called once per shard this worker finished (not for a redelivery the transaction
    # refused): batch id, shard, lines completed, lines failed, milliseconds. The Lambda
    # worker emits it as EMF metrics (handler/metrics.ShardMetrics).
    on_shard: Callable[[str, int, int, int, float], None] | None = None
    # Per-key fairness: a shard runs only while it holds one of its key's slots.
    leases: ShardLeases | None = None
    # The owner's key: still active? which lines fit its monthly budget? (batch/admission.py)
    admission: LineAdmission = field(default_factory=OpenAdmission)

    def handle(
        self, message: dict[str, Any], receives: int = 1, time_left: Callable[[], float] = forever
    ) -> None:
        """Run one message; `receives` is SQS's ApproximateReceiveCount, `time_left()` the
        invocation's remaining seconds."""
        kind = message.get("kind")
        if kind not in ("plan", "shard", "finalize"):
            raise ValueError(f"unknown batch message {message!r}")
        batch_id = str(message["batch_id"])
        if receives >= MAX_RECEIVES:
            self.give_up(batch_id, message)
        elif kind == "plan":
            self.plan(batch_id)
        elif kind == "finalize":
            self.finalize_if_last(batch_id, time_left)
        else:
            self.run_shard(batch_id, int(message["shard"]), time_left)

    def give_up(self, batch_id: str, message: dict[str, Any]) -> None:
        """The message (a plan, a shard, or the sweep's "finalize") failed on every try: end
        its batch `failed` with OpenAI's errors instead of retrying it forever."""
        log.error("batch message %s failed too often: its batch fails", message)
        kind = message.get("kind")
        if kind == "plan":
            self._fail(batch_id, "server_error", "The batch input file could not be planned.")
            return
        shard = None
        if kind == "shard":
            shard = self.batches.get_shard(batch_id, int(message["shard"]))
        if shard is not None and shard.state == b.PENDING:
            # Its other shards stop too; what was answered is kept in the batch's files, and
            # billed if the ledger takes it (a ledger down for good must not keep it going).
            text = "The batch could not be processed; the requests answered are in its files."
            self.batches.mark_failed(batch_id, _errors("server_error", text))
            batch = self.batches.get(batch_id)
            try:
                shard = self._bill(batch, shard) if batch is not None else shard
            except Exception:
                log.exception("billing the answered parts of %s:%s failed", batch_id, shard.index)
            self.batches.finish_shard(shard, b.DONE if shard.parts else b.SKIPPED)
            self.finalize_if_last(batch_id)
            return
        # The shards are done and the finalization is what fails: end without files.
        self.batches.transition(
            batch_id,
            (b.IN_PROGRESS, b.FINALIZING, b.CANCELLING),
            b.FAILED,
            errors=_errors("server_error", "The batch's result files could not be built."),
        )

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
        if not self.admission.owner_active(batch):  # revoked: its file is not even read
            return self._fail(batch_id, "key_revoked", "The API key of this batch was revoked.")
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
            return self._fail(batch_id, exc.code, exc.message, exc.line, exc.param)
        self.batches.add_shards(batch_id, plan.shards, batch.get("ttl") or 0)
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

    def _fail(
        self,
        batch_id: str,
        code: str,
        message: str,
        line: int | None = None,
        param: str | None = None,
    ) -> bool:
        errors = _errors(code, message, line, param)
        self.batches.transition(batch_id, (b.VALIDATING,), b.FAILED, errors=errors)
        return False

    # -- shards ---------------------------------------------------------------------------

    def run_shard(
        self, batch_id: str, index: int, time_left: Callable[[], float] = forever
    ) -> None:
        batch = self.batches.get(batch_id)
        shard = self.batches.get_shard(batch_id, index)
        if batch is None or shard is None:
            return
        if shard.state == b.PENDING:
            started = time.perf_counter()
            shard = self._bill(batch, shard)  # a part counted by a run that died unbilled
            if batch["status"] == b.IN_PROGRESS and not self.admission.owner_active(batch):
                # A revoked key's batch stops: cancelled, its other lines neither run nor billed.
                self.batches.transition(batch_id, (b.IN_PROGRESS,), b.CANCELLING)
                batch = self.batches.get(batch_id) or batch
            # Cancelled, or failed: no new lines run; the parts answered are kept.
            runnable = batch["status"] == b.IN_PROGRESS and not batch.get("errors")
            if runnable and shard.position[0] < shard.end:
                # Past the completion window, the lines fail with batch_expired (as OpenAI's
                # do) and the batch ends `expired`, keeping what was done in time.
                expired = self.clock() > batch["expires_at"]
                if expired:  # its lines fail unrun: a dead run's admitted groups come back
                    self._refund_rest(batch, shard)
                slot, holder = None, f"{batch_id}:{index}"
                if self.leases is not None and not expired:  # expired lines need no model
                    slot = self.leases.acquire(batch["owner"], holder)
                    if slot is None:  # the key has its share of workers: come back later
                        message = {"kind": "shard", "batch_id": batch_id, "shard": index}
                        self.send({**message, "delay": WAIT_SECONDS})
                        return
                try:
                    shard = self._run_part(batch, shard, time_left, expired)
                finally:
                    if self.leases is not None and slot is not None:
                        self.leases.release(batch["owner"], slot, holder)
                batch = self.batches.get(batch_id) or batch
                runnable = batch["status"] == b.IN_PROGRESS and not batch.get("errors")
                if runnable and shard.state == b.PENDING and shard.position[0] < shard.end:
                    self.send({"kind": "shard", "batch_id": batch_id, "shard": index})
                    return  # the rest of the shard runs in a fresh invocation
            if shard.state == b.PENDING:
                finished = self.batches.finish_shard(shard, b.DONE if shard.parts else b.SKIPPED)
                if finished and shard.position[0] < shard.end:  # stopped: no part will count
                    self._refund_rest(batch, shard)
                if finished and shard.parts and self.on_shard is not None:
                    ms = (time.perf_counter() - started) * 1000
                    self.on_shard(batch_id, index, shard.completed, shard.failed, ms)
        self.finalize_if_last(batch_id, time_left)

    def _refund_rest(self, batch: dict[str, Any], shard: Shard) -> None:
        """The monthly budget back for groups a run admitted past the shard's last counted
        part (it died before the part counted, and no run will answer them now)."""
        following = self.batches.get_shard(batch["id"], shard.index + 1)
        end_line = following.first_line if following is not None else None
        self.admission.refund_undelivered(batch, shard.position[1], end_line)

    def _bill(self, batch: dict[str, Any], shard: Shard) -> Shard:
        """Record the usage of the shard's counted parts not yet billed (from their
        manifests); the shard with `billed` brought up to `parts`."""
        for part in range(shard.billed + 1, shard.parts + 1):
            name = shard.part_names[part - 1]
            found = read_manifest(self.files.s3, self.files.bucket, batch["id"], shard.index, name)
            self._record(batch["id"], found.records)
            self.batches.mark_billed(shard, part)
        return replace(shard, billed=shard.parts)

    def _record(self, batch_id: str, records: list[UsageRecord]) -> None:
        if records and "logged" in self.recorder.record_many(records):
            # In neither DynamoDB nor the fallback queue: run the message again later (the
            # records are idempotent) rather than leave them to a replay from the logs.
            raise UsageNotRecordedError(f"usage of batch {batch_id} not recorded")

    def _run_part(
        self, batch: dict[str, Any], shard: Shard, time_left: Callable[[], float], expired: bool
    ) -> Shard:
        """Answer the shard's next lines as its next part, checkpoint and bill it; the shard
        as it now stands."""
        batch_id, index = batch["id"], shard.index
        source = self.files.get(batch["owner"], batch["input_file_id"])
        if source is None:  # deleted mid-batch: the batch ends, keeping what was answered
            text = "The input file was deleted before the batch finished."
            self.batches.mark_failed(batch_id, _errors("file_not_found", text))
            return shard
        body = self.files.read_range(source.s3_key, shard.position[0], shard.end)
        number, run = shard.parts + 1, uuid.uuid4().hex[:12]
        s3, bucket = self.files.s3, self.files.bucket
        part = PartRun(self.settings, self.models, batch, expired, time_left, self.admission)
        manifest = part.answer(s3, bucket, body, shard, part_name(number, run))
        if expired:
            self.batches.mark_expired(batch_id)
        counted = self.batches.checkpoint(
            shard,
            run,
            manifest.offset,
            manifest.next_line,
            manifest.completed,
            manifest.failed,
            sum(record.total_tokens for record in manifest.records),
        )
        if counted:
            self._record(batch_id, manifest.records)
            self.batches.mark_billed(shard, number)
        return self.batches.get_shard(batch_id, index) or shard

    # -- finalizing -----------------------------------------------------------------------

    def finalize_if_last(self, batch_id: str, time_left: Callable[[], float] = forever) -> None:
        """Finalize the batch if every shard is finished: assemble its result files (in
        steps: short of time, the progress is saved and a "finalize" message carries on)."""
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
        for kind, count, name in (
            (OUTPUT, batch["completed"], "output_file_id"),
            (ERRORS, batch["failed"], "error_file_id"),
        ):
            if count:
                ids[name] = self._assemble(batch, kind, time_left)
                if ids[name] is None:
                    self.send({"kind": "finalize", "batch_id": batch_id})
                    return
        if batch["status"] == b.CANCELLING:
            final = b.CANCELLED
        elif batch.get("errors"):
            final = b.FAILED
        else:
            final = b.EXPIRED if batch.get("expired") else b.COMPLETED
        self.batches.transition(batch_id, (batch["status"],), final, **ids)

    def _assemble(
        self, batch: dict[str, Any], kind: str, time_left: Callable[[], float]
    ) -> str | None:
        """The result file of `kind`, or None when time ran short (resumable)."""
        batch_id, owner = batch["id"], batch["owner"]
        file_id = result_file_id(batch_id, kind)
        if self.files.get(owner, file_id) is not None:
            return file_id  # assembled by a finalization that died after it: not again
        sources = [
            part_key(batch_id, index, name, kind)
            for index in range(1, batch["shards_total"] + 1)
            if (shard := self.batches.get_shard(batch_id, index)) and shard.state == b.DONE
            for name in shard.part_names
        ]
        key = self.files.object_key(owner, file_id)
        state_key = f"batches/{batch_id}/assembly/{kind}.json"
        size = assemble(self.files.s3, self.files.bucket, sources, key, state_key, time_left)
        if size is None:
            return None
        self.files.record(
            owner,
            file_id,
            key,
            size,
            f"{batch_id}_{kind}.jsonl",
            PURPOSE_OUTPUT,
            batch.get("output_expires_after"),
        )
        return file_id


def _errors(
    code: str, message: str, line: int | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's Batch `errors`: a list of {code, message, param, line} (line: 1-based in
    the input file, for a batch that failed validation on one line)."""
    return {
        "object": "list",
        "data": [{"code": code, "message": message, "param": param, "line": line}],
    }


def decode(body: str | bytes) -> dict[str, Any]:
    message = orjson.loads(body)
    if not isinstance(message, dict):
        raise ValueError("a batch message is a JSON object")
    return message
