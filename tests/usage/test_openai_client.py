"""The real `openai` client over HTTP against the app on uvicorn, usage in DynamoDB Local.

The usage write meets injected faults (throttling, 5xx, timeouts, a write that commits and
then loses its response); after replaying the fallback queue, the table's totals equal the
`usage` the clients were told, and every request id is there exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import openai
import pytest

from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import KeyStore, Limits
from handler.usage.replay import replay
from handler.usage.service import UsageService
from tests.usage.usage_support import Faults, Tables

MODEL = "all-MiniLM-L6-v2"


@pytest.mark.integration
def test_usage_in_the_table_equals_usage_returned_after_faults_and_replay(
    served: tuple[str, UsageService], local_tables: Tables, queue: SqsUsageQueue
) -> None:
    base_url, service = served
    secret, key = KeyStore(local_tables.client, local_tables.keys).create(
        "app", Limits(rpm=1000, tpm=1_000_000)
    )
    client = openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0)
    faults = Faults(local_tables.client, "TransactWriteItems")
    plans = [
        [],
        ["throttle"],
        ["throttle"] * 3,
        ["500"] * 3,
        ["timeout"] * 3,
        ["commit_then_timeout"],
        ["commit_then_timeout", "timeout", "timeout"],
        [],
    ]
    told = {"requests": 0, "inputs": 0, "total_tokens": 0}
    for n, plan in enumerate(plans):
        faults.plan(*plan)
        inputs = [f"sentence {n} number {i}" for i in range(1 + n % 3)]
        response = client.embeddings.create(model=MODEL, input=inputs)
        assert len(response.data) == len(inputs)  # the client is served whatever DynamoDB did
        told["requests"] += 1
        told["inputs"] += len(inputs)
        told["total_tokens"] += response.usage.total_tokens

    report = replay(queue, service.recorder.writer, wait_seconds=0)
    assert report.failed == 0 and report.written + report.duplicates == 4

    today = datetime.now(UTC).date().isoformat()
    usage = httpx.get(
        f"{base_url}/usage?start_date={today}&end_date={today}",
        headers={"Authorization": f"Bearer {secret}"},
    ).json()
    bucket = usage["data"][0]
    assert usage["key_id"] == key.key_id
    assert {name: bucket[name] for name in told} == told
    items = local_tables.client.scan(TableName=local_tables.usage, ConsistentRead=True)["Items"]
    request_ids = [i["request_id"]["S"] for i in items if i["pk"]["S"].startswith("REQ#")]
    assert len(request_ids) == len(set(request_ids)) == len(plans)


@pytest.mark.integration
def test_openai_client_sees_auth_and_rate_limit_errors(
    served: tuple[str, UsageService], local_tables: Tables
) -> None:
    base_url, _ = served
    secret, _ = KeyStore(local_tables.client, local_tables.keys).create("app", Limits(rpm=1))
    client = openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0)
    raw = client.embeddings.with_raw_response.create(model=MODEL, input="hello")
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as limited:
        client.embeddings.create(model=MODEL, input="hello")
    assert limited.value.status_code == 429
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.type == "requests"
    wrong = openai.OpenAI(api_key="sk-wrong", base_url=base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        wrong.embeddings.create(model=MODEL, input="hello")
    assert denied.value.code == "invalid_api_key"
