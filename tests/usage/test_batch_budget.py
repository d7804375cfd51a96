"""Batch lines against the monthly budget (handler/usage/budget.py), on DynamoDB Local:
admission per group, charged once however often a shard runs, and refunds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handler.usage.budget import LineBudget
from handler.usage.keys import KeyStore, Limits
from handler.usage.quotas import QuotaGate
from handler.usage.store import month_key
from tests.usage.usage_support import Tables

T0 = datetime(2026, 11, 21, 8, 30, 15, tzinfo=UTC).timestamp()


def month_tokens(tables: Tables, key_id: str) -> int:
    item = tables.client.get_item(
        TableName=tables.usage, Key=month_key(key_id, "2026-11"), ConsistentRead=True
    ).get("Item")
    return int(item["tokens"]["N"]) if item else 0


@pytest.mark.integration
def test_a_group_is_admitted_in_order_within_the_budget_and_charged_once(
    local_tables: Tables,
) -> None:
    # GIVEN a key with a monthly budget of 300 tokens, 40 of them spent synchronously
    _, key = KeyStore(local_tables.client, local_tables.keys).create(
        "b", Limits(monthly_tokens=300)
    )
    QuotaGate(local_tables.client, local_tables.usage, clock=lambda: T0).admit(key, 40)
    budget = LineBudget(local_tables.client, local_tables.usage, clock=lambda: T0)
    # WHEN a group of lines of 100, 150, 100 and 10 tokens asks to run
    admitted = budget.admit(key, "batch_x", 1, [100, 150, 100, 10])
    # THEN lines are taken in order while they fit: 40 + 100 + 150 = 290, the 100 does not
    # fit, the 10 does
    assert admitted == [True, True, False, True]
    assert month_tokens(local_tables, key.key_id) == 300
    # AND the same group asked again (a shard run twice) gets the same answer, uncharged
    assert budget.admit(key, "batch_x", 1, [100, 150, 100, 10]) == admitted
    assert month_tokens(local_tables, key.key_id) == 300
    assert budget.spent(key)
    # AND a further group is refused whole
    assert budget.admit(key, "batch_x", 5, [1]) == [False]
    # AND a refund gives the group's charge back, once
    budget.refund(key, "batch_x", 1)
    budget.refund(key, "batch_x", 1)
    assert month_tokens(local_tables, key.key_id) == 40
    assert not budget.spent(key)


@pytest.mark.integration
def test_a_key_without_a_budget_admits_everything_and_writes_nothing(
    local_tables: Tables,
) -> None:
    _, key = KeyStore(local_tables.client, local_tables.keys).create("free", Limits(rpm=5))
    budget = LineBudget(local_tables.client, local_tables.usage, clock=lambda: T0)
    assert budget.admit(key, "batch_y", 1, [10**6, 5]) == [True, True]
    assert not budget.spent(key)
    assert local_tables.client.scan(TableName=local_tables.usage)["Items"] == []


@pytest.mark.integration
def test_refund_from_gives_back_the_groups_in_its_line_range_only(local_tables: Tables) -> None:
    _, key = KeyStore(local_tables.client, local_tables.keys).create(
        "r", Limits(monthly_tokens=10_000)
    )
    budget = LineBudget(local_tables.client, local_tables.usage, clock=lambda: T0)
    # GIVEN groups admitted at lines 9, 10, 25 and 100 (10 sorts after 9 only when padded)
    for first, tokens in ((9, 1), (10, 20), (25, 300), (100, 4000)):
        assert budget.admit(key, "batch_r", first, [tokens]) == [True]
    # WHEN a shard of lines 10..99 stops at line 10: THEN its two groups come back, once
    assert budget.refund_from(key, "batch_r", 10, 100) == 2
    assert budget.refund_from(key, "batch_r", 10, 100) == 0
    assert month_tokens(local_tables, key.key_id) == 1 + 4000
    # AND the last shard's rest, to the batch's end
    assert budget.refund_from(key, "batch_r", 26, None) == 1
    assert month_tokens(local_tables, key.key_id) == 1
    assert budget.refund_from(key, "batch_r", 50, 50) == 0  # an empty range reads nothing
