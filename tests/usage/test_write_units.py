"""DynamoDB write units per synchronous request, as DynamoDB Local reports them
(ReturnConsumedCapacity=TOTAL on every write, summed from the responses): issue 19's
targets are at most 1 for a key without limits and at most 2 for one with RPM, TPM and a
monthly budget, the request item included."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from handler.usage.keys import KeyStore, Limits
from handler.usage.service import UsageService
from tests.usage.usage_support import Tables, WriteUnits

MODEL = "all-MiniLM-L6-v2"
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


@pytest.mark.integration
def test_a_container_that_saw_the_rpm_spent_refuses_without_a_write(
    make_app: Callable[..., tuple[FastAPI, UsageService]], local_tables: Tables
) -> None:
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create("app", Limits(rpm=1))
    app, _ = make_app(local_tables, usage_aggregation="stream")
    meter = WriteUnits(local_tables.client)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"model": MODEL, "input": "hello"}
        statuses = [client.post("/v1/embeddings", json=body, headers=headers).status_code]
        meter.reset()
        statuses += [client.post("/v1/embeddings", json=body, headers=headers).status_code]
    # the first minute may end between the two requests: then the second is served
    assert statuses in ([200, 429], [200, 200])
    if statuses[1] == 429:
        assert meter.units == 0, meter.calls
