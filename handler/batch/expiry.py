"""The expiry sweep: a batch past its completion window ends `expired` even when no worker ever
runs its shards (a shard notices expiry itself only when it runs, so a batch whose messages
sit behind a backlog, or were dead-lettered, would otherwise stay in_progress for good).

OpenAI's rule, which this keeps: a batch that misses its window moves to `expired`; requests
that finished in time are in its output file (and billed), the rest are in its error file as
`batch_expired` ("This request could not be executed before the completion window expired.")
and counted as failed.

For each batch still validating or in_progress GRACE_SECONDS after its window ended:
- validating (its plan message never ran): it is planned now, so its lines can be listed;
- each pending shard is run by the worker's own code past the window: its lines become
  `batch_expired` error lines (never metered), and the shard counts them as failed;
- the last shard finalizes as usual: the output of the shards done in time, the error file,
  and status `expired`.
A batch found `finalizing` that long after its window (its finalizer died) is finalized again,
and one still `cancelling` (its shard messages lost) has its pending shards skipped and ends
`cancelled`. A batch the sweep has tried MAX_ATTEMPTS times without ending it (its plan or
finalization dies each time, even by killing the process) ends `failed` with OpenAI's errors,
so one bad batch cannot hold up every other tenant's expiry: attempts are counted before
each try, and set back to zero by a try that did not fail.

Why the grace: a shard that started inside the window may still be embedding; Lambda ends any
invocation within 900 s, so after expires_at + 900 s every run of a pending shard, the
sweep's or a late worker's, writes the same batch_expired lines to the same keys, and the
shard's conditional transaction counts it once. Idempotent: a second sweep finds nothing
pending, and a sweep cut off by its deadline is finished by the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from handler.batch import batches as b
from handler.batch.items import from_item, to_item
from handler.batch.table import STATUS_INDEX
from handler.batch.worker import Worker

log = logging.getLogger(__name__)
GRACE_SECONDS = 900  # Lambda's longest invocation
OVERDUE = (b.VALIDATING, b.IN_PROGRESS, b.FINALIZING, b.CANCELLING)
MAX_ATTEMPTS = 3  # sweeps that may try one batch before it ends `failed`
# Planning streams the whole input file (up to 200 MB): not started with less time left.
PLAN_SECONDS = 180.0


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)  # batches this sweep ended `expired`
    cancelled: list[str] = field(default_factory=list)  # `cancelling` ones it ended
    finalized: list[str] = field(default_factory=list)  # stuck finalizations redone
    shards: int = 0  # pending shards run as expired
    failed: list[str] = field(default_factory=list)  # raised (logged); the next sweep retries
    gave_up: list[str] = field(default_factory=list)  # ended `failed` after MAX_ATTEMPTS
    unfinished: bool = False  # the deadline came first; the next sweep carries on


def overdue_batches(dynamodb: Any, table_name: str, status: str, before: float) -> Iterator[str]:
    """Ids of batches in `status` whose window ended before `before` (the sparse index holds
    batch items only: files and shards have no `status`)."""
    query: dict[str, Any] = {
        "TableName": table_name,
        "IndexName": STATUS_INDEX,
        "KeyConditionExpression": "#s = :s AND expires_at < :t",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": to_item({":s": status, ":t": int(before)}),
    }
    while True:
        page = dynamodb.query(**query)
        for item in page["Items"]:
            yield str(from_item(item)["pk"]).removeprefix("batch#")
        if "LastEvaluatedKey" not in page:
            return
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def sweep(worker: Worker, time_left: Callable[[], float] = lambda: float("inf")) -> SweepReport:
    """Expire every overdue batch (see the module's docstring); stops early when `time_left()`
    (seconds) drops under a minute. `worker.clock` says what time it is."""
    report = SweepReport()
    # The sweep runs shards itself: the plan's shard messages would only find them done.
    worker = replace(worker, send=lambda message: None)
    store = worker.batches
    before = worker.clock() - GRACE_SECONDS
    for status in OVERDUE:
        for batch_id in overdue_batches(store.dynamodb, store.table, status, before):
            if time_left() < 60:
                report.unfinished = True
                return report
            try:
                finished = _sweep_one(worker, batch_id, status, time_left, report)
                # It ran without raising (perhaps only in part, for want of time): only tries
                # that fail count towards MAX_ATTEMPTS, so a long resumable finalization goes on.
                store.reset_attempts(batch_id)
            except Exception:  # one broken batch must not stop the others' expiry
                log.exception("expiring batch %s failed", batch_id)
                report.failed.append(batch_id)
                continue
            if not finished:
                report.unfinished = True
                return report
    return report


def _sweep_one(
    worker: Worker,
    batch_id: str,
    status: str,
    time_left: Callable[[], float],
    report: SweepReport,
) -> bool:
    if status == b.VALIDATING and time_left() < PLAN_SECONDS:
        return False
    if worker.batches.count_attempt(batch_id) > MAX_ATTEMPTS:
        message = {"kind": "plan" if status == b.VALIDATING else "finalize", "batch_id": batch_id}
        worker.give_up(batch_id, message)
        report.gave_up.append(batch_id)
        return True
    if status == b.FINALIZING:
        worker.finalize_if_last(batch_id, time_left)  # or saved, for the next sweep
        report.finalized.append(batch_id)
        return True
    if status == b.VALIDATING:
        worker.plan(batch_id)  # or it fails, if its input file is gone
    if not _expire_shards(worker, batch_id, time_left, report):
        return False
    final = worker.batches.get(batch_id)
    if final is not None and final["status"] == b.EXPIRED:
        report.expired.append(batch_id)
    if final is not None and final["status"] == b.CANCELLED:
        report.cancelled.append(batch_id)
    return True


def _expire_shards(
    worker: Worker, batch_id: str, time_left: Callable[[], float], report: SweepReport
) -> bool:
    """Run the batch's pending shards past its window; False when the deadline came first."""
    batch = worker.batches.get(batch_id)
    if batch is None:
        return True
    for index in range(1, batch["shards_total"] + 1):
        shard = worker.batches.get_shard(batch_id, index)
        if shard is None or shard.state != b.PENDING:
            continue
        if time_left() < 60:
            return False
        # past the window: batch_expired lines, unmetered
        worker.run_shard(batch_id, index, time_left)
        report.shards += 1
    worker.finalize_if_last(batch_id, time_left)  # also when every shard had already run
    return True
