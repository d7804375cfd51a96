"""Exactly once under contention: DynamoDB cancels a transaction that meets another one on the
same item (TransactionConflict), and every request of a key updates the key's one day item.

DynamoDB Local serialises transactions and never answers TransactionConflict, so the
conflicts are injected: scripted ones at botocore's HTTP send, and
`Contention`, which applies DynamoDB's rule to the real round trips to DynamoDB Local
(integration: the hot-key test through the app over HTTP).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import KeyStore, Limits
from handler.usage.recorder import UsageRecorder
from handler.usage.replay import replay
from handler.usage.service import UsageService
from handler.usage.writer import (
    CONFLICT_ATTEMPTS,
    CONFLICT_CAP_SECONDS,
    UsageWriter,
    _is_conflict,
    _is_duplicate,
    backoff,
)
from tests.usage.test_exactly_once import make_record, table_totals
from tests.usage.usage_support import Contention, Faults, Tables

MODEL = "all-MiniLM-L6-v2"


def writer_with_faults(tables: Tables, *steps: str) -> tuple[UsageWriter, Faults, list[float]]:
    waits: list[float] = []
    faults = Faults(tables.client, "TransactWriteItems", steps)
    return UsageWriter(tables.client, tables.usage, 3600, sleep=waits.append), faults, waits


# DynamoDB Local, not moto: moto's stubber applies a request even when a before-send hook
# has already answered it, so an injected cancellation would still be written there.
@pytest.mark.integration
def test_conflicts_are_retried_and_the_record_counts_once(local_tables: Tables) -> None:
    writer, faults, waits = writer_with_faults(local_tables, "conflict", "conflict", "conflict")
    record = make_record(tokens=13, inputs=3)
    assert writer.write(record) == "written"
    assert (faults.attempts, writer.conflicts, len(waits)) == (4, 3, 3)
    assert all(0 <= wait <= CONFLICT_CAP_SECONDS for wait in waits)
    totals = table_totals(local_tables)
    assert (totals["requests"], totals["inputs"], totals["total_tokens"]) == (1, 3, 13)
    assert totals["request_items"] == 1
    assert writer.write(record) == "duplicate"  # and a later retry still counts nothing


@pytest.mark.integration
def test_conflicts_past_the_last_attempt_go_to_the_queue_and_replay_once(
    local_tables: Tables, queue: SqsUsageQueue
) -> None:
    writer, faults, waits = writer_with_faults(local_tables, *["conflict"] * CONFLICT_ATTEMPTS)
    record = make_record(tokens=5)
    assert UsageRecorder(writer, queue)(record) == "queued"
    assert faults.attempts == CONFLICT_ATTEMPTS and len(waits) == CONFLICT_ATTEMPTS - 1
    assert table_totals(local_tables)["requests"] == 0
    report = replay(queue, writer, wait_seconds=0)
    assert (report.written, report.duplicates, report.failed) == (1, 0, 0)
    assert table_totals(local_tables)["total_tokens"] == 5


@pytest.mark.unit
def test_backoff_is_jittered_and_capped() -> None:
    assert [backoff(n, rand=lambda: 1.0) for n in range(3)] == [0.01, 0.02, 0.04]
    assert backoff(30, rand=lambda: 1.0) == CONFLICT_CAP_SECONDS
    assert backoff(5, rand=lambda: 0.0) == 0.0
    total_worst = sum(backoff(n, rand=lambda: 1.0) for n in range(CONFLICT_ATTEMPTS - 1))
    assert total_worst < 1.0  # a hot key can never cost a request more than a second here


def cancelled(reasons: list[str] | None, message: str = "") -> Any:
    from botocore.exceptions import ClientError

    response: dict[str, Any] = {
        "Error": {"Code": "TransactionCanceledException", "Message": message}
    }
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": code} for code in reasons]
    return ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]


@pytest.mark.unit
def test_cancellation_reasons_are_read_from_the_list_or_the_message() -> None:
    conflict = cancelled(["None", "TransactionConflict"])
    assert _is_conflict(conflict) and not _is_duplicate(conflict)
    duplicate = cancelled(["ConditionalCheckFailed", "TransactionConflict"])
    assert _is_duplicate(duplicate) and not _is_conflict(duplicate)
    in_message = cancelled(None, "Transaction cancelled ... [None, TransactionConflict]")
    assert _is_conflict(in_message)
    dup_message = cancelled(None, "Transaction cancelled ... [ConditionalCheckFailed, None]")
    assert _is_duplicate(dup_message) and not _is_conflict(dup_message)
    validation = cancelled(["None", "ValidationError"])
    assert not _is_conflict(validation) and not _is_duplicate(validation)


CLIENTS = 50
REQUESTS_PER_CLIENT = 11  # 550 requests


async def _hammer(base_url: str, secret: str) -> tuple[list[dict[str, int]], list[int]]:
    """CLIENTS concurrent clients, each sending REQUESTS_PER_CLIENT requests on one key."""
    usages: list[dict[str, int]] = []
    failures: list[int] = []
    limits = httpx.Limits(max_connections=CLIENTS)
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:

        async def one_client(n: int) -> None:
            for i in range(REQUESTS_PER_CLIENT):
                inputs = [f"client {n} request {i} part {j}" for j in range(1 + (n + i) % 3)]
                body = {"model": MODEL, "input": inputs}
                response = await client.post("/embeddings", json=body, headers=headers)
                if response.status_code != 200:
                    failures.append(response.status_code)
                    continue
                usages.append({**response.json()["usage"], "inputs": len(inputs)})

        await asyncio.gather(*(one_client(n) for n in range(CLIENTS)))
    return usages, failures


@pytest.mark.integration
def test_hot_key_under_contention_counts_every_request_once(
    served: tuple[str, UsageService], local_tables: Tables, queue: SqsUsageQueue
) -> None:
    base_url, service = served
    secret, key = KeyStore(local_tables.client, local_tables.keys).create(
        "hot", Limits(rpm=100_000, tpm=10_000_000)
    )
    contention = Contention(local_tables.client)

    usages, failures = asyncio.run(_hammer(base_url, secret))
    assert failures == []
    assert len(usages) == CLIENTS * REQUESTS_PER_CLIENT

    report = replay(queue, service.recorder.writer, wait_seconds=0)  # any that ran out of tries
    told = {
        "requests": len(usages),
        "inputs": sum(u["inputs"] for u in usages),
        "total_tokens": sum(u["total_tokens"] for u in usages),
    }
    totals = table_totals(local_tables, key.key_id)
    lost = told["requests"] - totals["requests"]
    doubled = totals["request_items"] - totals["request_ids"]
    print(
        f"\nhot key: {told['requests']} requests from {CLIENTS} clients, "
        f"{contention.conflicts} TransactionConflict injected, "
        f"{contention.sent} transactions reached the table, queued then replayed "
        f"{report.written + report.duplicates}, lost {lost}, doubled {doubled}"
    )
    assert contention.conflicts > 0  # the test did meet contention
    assert report.failed == 0 and report.malformed == 0
    assert {name: totals[name] for name in told} == told
    assert totals["request_items"] == totals["request_ids"] == told["requests"]


@pytest.mark.unit
def test_readers_sum_a_days_shards_and_an_unsharded_item_from_before(moto_tables: Tables) -> None:
    from datetime import UTC, datetime

    from handler.usage.report import UsageReader

    writer = UsageWriter(moto_tables.client, moto_tables.usage, 3600)
    records = [make_record(tokens=n + 1, inputs=1) for n in range(40)]  # spread over shards
    for record in records:
        writer.write(record)
    items = moto_tables.client.scan(TableName=moto_tables.usage)["Items"]
    assert len({i["sk"]["S"] for i in items if i["sk"]["S"].startswith("DAY#")}) > 8
    day = records[0].day
    legacy = {"pk": {"S": "KEY#key_test"}, "sk": {"S": f"DAY#{day}"}}  # one item a day, as before
    counts = {
        name: {"N": "100"} for name in ("requests", "inputs", "prompt_tokens", "total_tokens")
    }
    moto_tables.client.put_item(TableName=moto_tables.usage, Item={**legacy, **counts})
    today = datetime.fromisoformat(day).replace(tzinfo=UTC).date()
    (bucket,) = UsageReader(moto_tables.client, moto_tables.usage).daily("key_test", today, today)
    assert (bucket.requests, bucket.inputs) == (140, 140)
    assert bucket.total_tokens == 100 + sum(r.total_tokens for r in records)
