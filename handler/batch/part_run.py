"""One run of a shard: its next lines answered, in order, as one part (handler/batch/parts.py):
the output and error objects, then the manifest with the part's usage record (its delivered
lines summed: handler/batch/metering.py).

Valid lines are embedded together in model passes bounded in inputs (GROUP_INPUTS) and tokens
(GROUP_TOKENS); after each pass, a run with under STOP_SECONDS left ends the part there, so
the rest of the shard goes to a fresh invocation instead of the run timing out and starting
over. Anything wrong with a line's content is that line's error line (handler/batch/lines.py);
store and model failures propagate, and the part's objects are not written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handler.batch.admission import LineAdmission, OpenAdmission
from handler.batch.batches import Shard
from handler.batch.concat import S3Writer
from handler.batch.files import CHUNK_BYTES
from handler.batch.jsonl import Line, split_lines
from handler.batch.lines import LineResult, PreparedLine, embed_lines, expired_line, prepare_line
from handler.batch.metering import PartUsage
from handler.batch.parts import ERRORS, OUTPUT, Manifest, part_key, write_manifest
from handler.embeddings.models import ServedModels
from handler.settings import Settings

# Inputs of consecutive valid lines embedded in one model pass (a batch-invariant artifact
# gives each the vectors of its request alone); bounds the vectors a worker holds at once.
GROUP_INPUTS = 256
# ...and their tokens, so one pass takes a few seconds (a line alone may still hold up to
# MAX_TOKENS_PER_REQUEST: ~20-27 s, the longest single step of a run).
GROUP_TOKENS = 32_768
# A run with less than this left stops after its group and requeues the rest of its shard:
# the longest group plus the part's writes, inside the worker's 300 s timeout.
STOP_SECONDS = 60.0


@dataclass
class PartRun:
    """Answers one part; `expired`: past the batch's window, every line is batch_expired."""

    settings: Settings
    models: ServedModels  # a line's `model` picks one
    batch: dict[str, Any]
    expired: bool
    time_left: Callable[[], float]
    # The owner's monthly budget: lines over it get insufficient_quota (batch/admission.py).
    admission: LineAdmission = field(default_factory=OpenAdmission)
    offset: int = 0  # where the unanswered lines begin
    next_line: int = 0
    completed: int = 0
    failed: int = 0
    usage: PartUsage = field(default_factory=PartUsage)

    def answer(self, s3: Any, bucket: str, body: Any, shard: Shard, name: str) -> Manifest:
        """Answer the shard's lines from its position, read from `body` (the S3 stream of
        that range), as the part `name` (parts.part_name); its manifest, written last."""
        batch_id = self.batch["id"]
        self.offset, self.next_line = shard.position
        with (
            # the output's parts upload while the next lines embed (concat.S3Writer)
            S3Writer(s3, bucket, part_key(batch_id, shard.index, name, OUTPUT), True) as out,
            S3Writer(s3, bucket, part_key(batch_id, shard.index, name, ERRORS)) as err,
        ):
            try:
                if self._answer_lines(body, out, err):
                    self.offset, self.next_line = shard.end, 0
            finally:
                body.close()
        # The part's number is fixed by the checkpoint it will be counted in: its usage id too.
        record = self.usage.record(self.batch["owner"], batch_id, shard.index, shard.parts + 1)
        records = [] if record is None else [record]
        manifest = Manifest(self.offset, self.next_line, self.completed, self.failed, records)
        write_manifest(s3, bucket, batch_id, shard.index, name, manifest)
        return manifest

    def _answer_lines(self, body: Any, out: S3Writer, err: S3Writer) -> bool:
        """Answer lines in order, the valid ones embedded together when a group is full;
        True at the range's end, False when time ran short first."""
        lines = split_lines(
            body.iter_chunks(CHUNK_BYTES),
            first_number=self.next_line,
            offset=self.offset,
            max_line_bytes=self.settings.max_body_bytes,
            file_start=self.offset == 0,
        )
        batch_id = self.batch["id"]
        group: list[tuple[Line, PreparedLine | LineResult]] = []
        inputs = tokens = 0
        for line in lines:
            if self.expired:
                item: PreparedLine | LineResult = expired_line(line.raw, line.number, batch_id)
            else:
                item = prepare_line(
                    line.raw,
                    line.number,
                    batch_id,
                    self.batch["endpoint"],
                    self.models,
                    self.settings,
                )
            group.append((line, item))
            if isinstance(item, PreparedLine):
                inputs += len(item.tokenized.ids)
                tokens += item.prompt_tokens
            if inputs >= GROUP_INPUTS or tokens >= GROUP_TOKENS:
                self._answer_group(group, out, err)
                group, inputs, tokens = [], 0, 0
                if self.time_left() < STOP_SECONDS:
                    return False  # the rest is requeued from self.offset
        self._answer_group(group, out, err)
        return True

    def _answer_group(
        self, group: list[tuple[Line, PreparedLine | LineResult]], out: S3Writer, err: S3Writer
    ) -> None:
        """Embed the group's valid lines in one pass and write every line's result in order;
        their usage waits in the manifest until the part is durable and counted."""
        if not group:
            return
        batch_id = self.batch["id"]
        waiting = [item for _, item in group if isinstance(item, PreparedLine)]
        # Admitted by the group's first line: a rerun of the part meets the same groups (it
        # starts at the same checkpoint), so it is charged once.
        if over := self.admission.admit(self.batch, waiting):  # lines past the monthly budget
            group = [
                (line, over.get(item.line_no, item) if isinstance(item, PreparedLine) else item)
                for line, item in group
            ]
            waiting = [item for _, item in group if isinstance(item, PreparedLine)]
        started = time.perf_counter()
        answers = iter(embed_lines(waiting, batch_id))
        elapsed_ms = (time.perf_counter() - started) * 1000
        group_tokens = max(sum(line.prompt_tokens for line in waiting), 1)
        for _, item in group:
            if isinstance(item, PreparedLine):
                result = next(answers)
                out.write(result.line)
                share = elapsed_ms * item.prompt_tokens / group_tokens
                self.usage.add(result, share)
            else:
                err.write(item.line)
        self.completed += len(waiting)
        self.failed += len(group) - len(waiting)
        last = group[-1][0]
        self.offset, self.next_line = last.end, last.number + 1
