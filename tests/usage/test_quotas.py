"""Quotas: limits, headers and concurrency; conditions are tested against DynamoDB Local."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from handler.usage.keys import KeyStore, Limits
from handler.usage.quotas import QuotaExceededError, QuotaGate, format_duration
from tests.usage.usage_support import Tables

T0 = datetime(2026, 11, 21, 8, 30, 15, tzinfo=UTC).timestamp()  # 15 s into a minute


@pytest.mark.unit
@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0204, "20ms"), (0.9994, "999ms"), (7, "7s"), (6.2, "7s"), (90, "1m30s")],
)
def test_reset_durations_use_openai_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.unit
def test_key_without_limits_is_not_metered(moto_tables: Tables) -> None:
    _, key = KeyStore(moto_tables.client, moto_tables.keys).create("free")
    assert QuotaGate(moto_tables.client, moto_tables.usage).admit(key, 10**9) is None
    assert moto_tables.client.scan(TableName=moto_tables.usage)["Items"] == []


@pytest.mark.integration
def test_requests_per_minute_limit_rejects_without_counting(local_tables: Tables) -> None:
    _, key = KeyStore(local_tables.client, local_tables.keys).create("a", Limits(rpm=2))
    gate = QuotaGate(local_tables.client, local_tables.usage, clock=lambda: T0)
    first = gate.admit(key, 5)
    assert first is not None and first.headers() == {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "45s",
    }
    second = gate.admit(key, 5)
    assert second is not None and second.headers()["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(QuotaExceededError) as rejected:
        gate.admit(key, 5)
    assert rejected.value.kind == "requests"
    assert rejected.value.retry_after_header == "45"
    assert "Limit 2, Used 2" in rejected.value.message
    item = local_tables.client.scan(TableName=local_tables.usage)["Items"][0]
    assert item["minute_requests"]["N"] == "2" and item["minute_tokens"]["N"] == "10"


@pytest.mark.integration
def test_tokens_per_minute_limit_and_next_window(local_tables: Tables) -> None:
    _, key = KeyStore(local_tables.client, local_tables.keys).create("a", Limits(rpm=100, tpm=100))
    now = [T0]
    gate = QuotaGate(local_tables.client, local_tables.usage, clock=lambda: now[0])
    state = gate.admit(key, 60)
    assert state is not None and state.headers()["x-ratelimit-remaining-tokens"] == "40"
    gate.admit(key, 40)  # exactly at the limit is allowed
    with pytest.raises(QuotaExceededError) as rejected:
        gate.admit(key, 1)
    assert rejected.value.kind == "tokens"
    assert rejected.value.state.headers()["x-ratelimit-remaining-tokens"] == "0"
    with pytest.raises(QuotaExceededError, match="Request too large"):
        gate.admit(key, 101)
    now[0] = T0 + 45  # the next minute starts afresh
    state = gate.admit(key, 100)
    assert state is not None and state.headers()["x-ratelimit-remaining-tokens"] == "0"
    assert state.headers()["x-ratelimit-reset-tokens"] == "1m0s"


@pytest.mark.integration
def test_monthly_budget_spans_minutes_and_gives_back_the_minute(local_tables: Tables) -> None:
    limits = Limits(rpm=100, monthly_tokens=50)
    _, key = KeyStore(local_tables.client, local_tables.keys).create("a", limits)
    now = [T0]
    gate = QuotaGate(local_tables.client, local_tables.usage, clock=lambda: now[0])
    gate.admit(key, 30)
    now[0] += 3600
    with pytest.raises(QuotaExceededError) as rejected:
        gate.admit(key, 30)
    assert rejected.value.kind == "monthly_tokens"
    # its headers show the minute as it stands after the give-back
    assert rejected.value.state.headers()["x-ratelimit-remaining-requests"] == "100"
    assert int(rejected.value.retry_after_header) == (
        datetime(2026, 12, 1, tzinfo=UTC).timestamp() - now[0]
    )
    state = gate.admit(key, 20)  # the rejected request took nothing from the minute
    assert state is not None and state.headers()["x-ratelimit-remaining-requests"] == "99"


@pytest.mark.integration
def test_concurrent_admissions_never_pass_the_limit(local_tables: Tables) -> None:
    """Many containers at once: 4 clients x 10 threads race for 25 requests per minute."""
    _, key = KeyStore(local_tables.client, local_tables.keys).create("a", Limits(rpm=25, tpm=900))
    endpoint = local_tables.client.meta.endpoint_url
    admitted: list[int] = []
    rejected: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(40)

    def container() -> None:
        import botocore.session

        client = botocore.session.get_session().create_client(
            "dynamodb", region_name="us-east-1", endpoint_url=endpoint
        )
        gate = QuotaGate(client, local_tables.usage, clock=lambda: T0)
        barrier.wait()
        try:
            state = gate.admit(key, 30)
            with lock:
                admitted.append(state.requests_used if state else -1)
        except QuotaExceededError as exc:
            with lock:
                rejected.append(exc.kind)

    threads = [threading.Thread(target=container) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 900 TPM / 30 = 30 would fit; the RPM of 25 binds first.
    assert len(admitted) == 25 and sorted(admitted) == list(range(1, 26))
    assert rejected == ["requests"] * 15
    item = local_tables.client.scan(TableName=local_tables.usage)["Items"][0]
    assert item["minute_requests"]["N"] == "25" and item["minute_tokens"]["N"] == "750"
