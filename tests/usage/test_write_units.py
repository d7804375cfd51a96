"""DynamoDB write units per synchronous request, as DynamoDB Local reports them
(ReturnConsumedCapacity=TOTAL on every write, summed from the responses): issue 19's
targets are at most 1 for a key without limits and at most 2 for one with RPM, TPM and a
monthly budget, the request item included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient
from usage_support import Tables

from handler.usage.keys import KeyStore, Limits
from handler.usage.service import UsageService

MODEL = "all-MiniLM-L6-v2"
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


class WriteUnits:
    """Adds ReturnConsumedCapacity to every write of a botocore client; sums what comes back."""

    def __init__(self, client: Any) -> None:
        self.units = 0.0
        self.calls: list[str] = []
        events = client.meta.events
        for operation in WRITES:
            events.register(f"provide-client-params.dynamodb.{operation}", self._ask)
            events.register(f"after-call.dynamodb.{operation}", self._count)
            events.register(f"after-call-error.dynamodb.{operation}", self._failed)

    def _ask(self, params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    def _count(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        # DynamoDB Local reports a transaction's items at the plain rate (2.0 for two small
        # items); DynamoDB charges a transactional write twice that.
        factor = 2 if model.name == "TransactWriteItems" else 1
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            units = float(entry.get("WriteCapacityUnits", entry.get("CapacityUnits", 0)))
            self.units += factor * units
        self.calls.append(model.name)

    def _failed(self, model: Any, **_: Any) -> None:
        self.units += 1  # a failed conditional write still costs at least one unit
        self.calls.append(f"{model.name}!")

    def reset(self) -> None:
        self.units, self.calls = 0.0, []


LIMITS = {
    "unlimited": (Limits(), 1),
    "rpm_tpm_month": (Limits(rpm=100, tpm=100_000, monthly_tokens=1_000_000), 2),
}


@pytest.mark.integration
@pytest.mark.parametrize("kind", sorted(LIMITS))
def test_write_units_per_short_query(
    make_app: Callable[..., tuple[FastAPI, UsageService]], local_tables: Tables, kind: str
) -> None:
    limits, most = LIMITS[kind]
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create("app", limits)
    app, _ = make_app(local_tables, usage_aggregation="stream")
    meter = WriteUnits(local_tables.client)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"model": MODEL, "input": "one short sentence to embed"}
        for _ in range(3):  # the first minute's and month's counters are new items, then not
            meter.reset()
            assert client.post("/v1/embeddings", json=body, headers=headers).status_code == 200
            assert meter.units <= most, (meter.units, meter.calls)
