"""The fallback queue's SQS client is built by the first record DynamoDB refuses, not at cold
start (handler/usage/store.py OnDemandClient): the record still reaches the queue."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from handler.settings import Settings
from handler.usage.fallback import SqsUsageQueue
from handler.usage.service import UsageService
from handler.usage.store import OnDemandClient
from tests.usage.test_exactly_once import make_record
from tests.usage.usage_support import Faults, Tables


@pytest.mark.unit
def test_the_queue_client_is_built_by_the_first_refused_record(
    model_dir: Path, moto_tables: Tables, queue: SqsUsageQueue
) -> None:
    # GIVEN the usage service wired from settings, as handler/app.py wires it (no SQS client
    # handed in), with a fallback queue
    settings = Settings(
        model_dir=model_dir,
        keys_table=moto_tables.keys,
        usage_table=moto_tables.usage,
        usage_queue_url=queue.queue_url,
    )
    service = UsageService.from_settings(settings, dynamodb=moto_tables.client)
    fallback = service.recorder.queue
    assert isinstance(fallback, SqsUsageQueue)
    assert isinstance(fallback.client, OnDemandClient)
    # WHEN a record is written while DynamoDB answers: THEN no SQS client exists yet
    assert service.recorder(make_record()) == "written"
    assert not fallback.client.built
    # WHEN DynamoDB refuses the next one
    Faults(moto_tables.client, "TransactWriteItems", ["timeout"] * 3)
    record = make_record(tokens=5)
    # THEN the client is built then, and the record is in the queue
    assert service.recorder(record) == "queued"
    assert fallback.client.built
    ((_, body),) = queue.receive(10, 0)
    assert json.loads(body)["request_id"] == record.request_id


@pytest.mark.unit
def test_an_on_demand_client_is_built_once_by_concurrent_first_uses() -> None:
    builds: list[int] = []

    class Client:
        def ping(self) -> str:
            return "pong"

    def build() -> Client:
        builds.append(1)
        time.sleep(0.05)  # a slow build, so the other threads arrive while it runs
        return Client()

    client = OnDemandClient(build)
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(client.ping())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["pong"] * 4
    assert len(builds) == 1


@pytest.mark.unit
def test_a_failed_build_is_tried_again_by_the_next_use() -> None:
    attempts: list[int] = []

    def build() -> dict[str, str]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("no credentials yet")
        return {"state": "built"}

    client = OnDemandClient(build)
    with pytest.raises(ConnectionError):
        client.get("state")
    assert not client.built
    assert client.get("state") == "built"
    assert len(attempts) == 2
