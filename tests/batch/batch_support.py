"""Test helpers for the batch tests: the live stack (app on uvicorn, moto S3/SQS, DynamoDB
Local) and ways to drive its workers by hand."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
import orjson

from handler.batch.service import BatchService, poll_once, run_worker
from handler.batch.worker import LineRecorder, Worker
from handler.embedder import Embedder
from handler.hooks import UsageRecord
from handler.settings import Settings

MODEL = "all-MiniLM-L6-v2"


def jsonl(rows: list[Any]) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def request_line(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings", "body": body}


class DyingRecorder:
    """Passes records on until `die_after` of them are written, then raises: a worker killed
    while billing a shard (0: before its usage reached the ledger; 1: after a part's one
    record did, before the shard noted it billed)."""

    def __init__(self, inner: LineRecorder, die_after: int) -> None:
        self.inner = inner
        self.left = die_after

    def record_many(self, usages: Sequence[UsageRecord]) -> list[str]:
        written = list(self.inner.record_many(usages[: self.left]))
        self.left -= len(written)
        if self.left <= 0:
            raise RuntimeError("worker killed")
        return written


class UnreachableLedger:
    """DynamoDB and the fallback queue both down: every record only reaches the log."""

    def record_many(self, usages: Sequence[UsageRecord]) -> list[str]:
        return ["logged"] * len(usages)


@dataclass
class Stack:
    base_url: str
    settings: Settings
    service: BatchService
    embedder: Embedder
    recorder: LineRecorder
    secrets: dict[str, str]  # name -> API key secret
    threads: list[threading.Thread] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def client(self, name: str = "alice") -> openai.OpenAI:
        return openai.OpenAI(api_key=self.secrets[name], base_url=self.base_url, max_retries=0)

    def worker(self, recorder: LineRecorder | None = None) -> Worker:
        return self.service.worker(self.embedder, recorder or self.recorder)

    def poll(self, worker: Worker | None = None) -> int:
        return poll_once(
            worker or self.worker(), self.service.sqs, self.settings.batch_queue_url, 0
        )

    def receive(self) -> list[dict[str, Any]]:
        """Take every waiting message off the queue, raw (for replaying by hand)."""
        taken: list[dict[str, Any]] = []
        while True:
            got = self.service.sqs.receive_message(
                QueueUrl=self.settings.batch_queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=600,
            ).get("Messages", [])
            if not got:
                return taken
            taken += got

    def start_workers(self, count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(
                target=run_worker,
                args=(self.worker(), self.service.sqs, self.settings.batch_queue_url, self.stop),
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def stop_workers(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def wait_for(
    client: openai.OpenAI, batch_id: str, statuses: tuple[str, ...], timeout: float = 600
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, f"batch still {batch.status} after {timeout}s"
        time.sleep(0.2)


def drain(
    stack: Stack, worker: Worker | None = None, check: Callable[[], bool] | None = None
) -> None:
    """Handle messages by hand until the queue is empty."""
    while stack.poll(worker):
        if check is not None and check():
            return


def corpus_free_rows(count: int) -> list[dict[str, Any]]:
    """`count` one-sentence request lines."""
    return [
        request_line(f"line-{i}", {"model": MODEL, "input": f"sentence number {i} of the test"})
        for i in range(count)
    ]


def create(stack: Stack, rows: list[dict[str, Any]]) -> str:
    """Upload `rows` as a batch input file and create its batch through the openai client."""
    client = stack.client()
    file_id = client.files.create(file=("in.jsonl", io.BytesIO(jsonl(rows))), purpose="batch").id
    return client.batches.create(
        input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
    ).id


def plan_and_take_shards(stack: Stack) -> list[dict[str, Any]]:
    """Run the plan message; return the shard messages it queued, taken off the queue."""
    [plan] = stack.receive()
    stack.worker().handle(orjson.loads(plan["Body"]))
    return sorted((orjson.loads(m["Body"]) for m in stack.receive()), key=lambda m: m["shard"])


def lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    """A result file's JSON lines."""
    assert file_id is not None
    return [orjson.loads(line) for line in client.files.content(file_id).content.splitlines()]
