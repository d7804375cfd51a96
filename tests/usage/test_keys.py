"""Key store and cache, against moto (unit) and DynamoDB Local (integration)."""

from __future__ import annotations

import hashlib

import pytest

from handler.usage.keys import (
    MAX_SECRET_CHARS,
    ApiKey,
    CachedKeyLookup,
    KeyStore,
    Limits,
    effective_limits,
    hash_key,
)
from tests.usage.usage_support import Tables


@pytest.mark.unit
def test_created_key_is_stored_only_as_its_sha256(moto_tables: Tables) -> None:
    keys = KeyStore(moto_tables.client, moto_tables.keys)
    secret, key = keys.create("app", Limits(rpm=5))
    assert secret.startswith("sk-") and len(secret) > 40
    items = moto_tables.client.scan(TableName=moto_tables.keys)["Items"]
    assert len(items) == 1
    stored = str(items[0])
    assert secret not in stored and secret[3:] not in stored
    assert items[0]["key_hash"]["S"] == hashlib.sha256(secret.encode()).hexdigest()
    assert items[0]["key_id"]["S"] == key.key_id and items[0]["rpm"]["N"] == "5"


@pytest.mark.unit
def test_lookup_finds_the_key_and_rejects_others(moto_tables: Tables) -> None:
    keys = KeyStore(moto_tables.client, moto_tables.keys)
    secret, key = keys.create("app", Limits(tpm=100, monthly_tokens=1000))
    found = keys.lookup(secret)
    assert found is not None and found.key_id == key.key_id and found.active
    assert found.limits == Limits(tpm=100, monthly_tokens=1000)
    assert keys.lookup(secret + "x") is None
    assert keys.lookup("sk-" + "a" * 43) is None


@pytest.mark.unit
def test_revoke_marks_the_key_revoked_and_lists_it(moto_tables: Tables) -> None:
    keys = KeyStore(moto_tables.client, moto_tables.keys)
    secret, key = keys.create("app")
    _, other = keys.create("other")
    assert keys.revoke(key.key_id) is True
    assert keys.revoke("key_missing") is False
    found = keys.lookup(secret)
    assert found is not None and found.status == "revoked" and not found.active
    listed = {k.key_id: k.status for k in keys.list()}
    assert listed == {key.key_id: "revoked", other.key_id: "active"}


@pytest.mark.unit
def test_cache_serves_for_ttl_then_reads_again() -> None:
    now = [0.0]
    calls: list[str] = []

    def lookup(secret: str) -> None:
        calls.append(hash_key(secret))
        return None

    cached = CachedKeyLookup(lookup, ttl=5.0, clock=lambda: now[0])
    assert cached("sk-a") is None and cached("sk-a") is None
    assert len(calls) == 1
    now[0] = 4.9
    cached("sk-a")
    assert len(calls) == 1
    now[0] = 5.0
    cached("sk-a")
    cached("sk-b")
    assert len(calls) == 3


@pytest.mark.integration
def test_revocation_reaches_a_cached_lookup_within_ttl(local_tables: Tables) -> None:
    keys = KeyStore(local_tables.client, local_tables.keys)
    secret, key = keys.create("app")
    now = [100.0]
    cached = CachedKeyLookup(keys.lookup, ttl=2.0, clock=lambda: now[0])
    first = cached(secret)
    assert first is not None and first.active
    keys.revoke(key.key_id)
    still = cached(secret)
    assert still is not None and still.active  # cached: revocation not seen yet
    now[0] += 2.0
    after = cached(secret)
    assert after is not None and not after.active


@pytest.mark.integration
def test_key_store_on_dynamodb_local(local_tables: Tables) -> None:
    keys = KeyStore(local_tables.client, local_tables.keys)
    secret, key = keys.create("app", Limits(rpm=1, tpm=2, monthly_tokens=3))
    found = keys.lookup(secret)
    assert found == key
    assert [k.key_id for k in keys.list()] == [key.key_id]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("own", "defaults", "enforced"),
    [
        # no defaults: the key's own limits, and none for a key without any
        (Limits(rpm=5), Limits(), Limits(rpm=5)),
        (Limits(), Limits(), Limits()),
        # each unset field takes the default; each set field keeps the key's own
        (Limits(), Limits(rpm=2, tpm=100, monthly_tokens=9), Limits(2, 100, 9)),
        (Limits(rpm=50), Limits(rpm=2, tpm=100), Limits(rpm=50, tpm=100)),
        (Limits(rpm=1), Limits(rpm=2), Limits(rpm=1)),  # the key's own wins even when lower
        # a key's own 0 opts out of the default, and is never enforced as a limit of 0
        (Limits(rpm=0, tpm=7), Limits(rpm=2, tpm=100, monthly_tokens=9), Limits(None, 7, 9)),
        (Limits(0, 0, 0), Limits(), Limits()),
    ],
)
def test_effective_limits_merge_defaults_into_unset_fields(
    own: Limits, defaults: Limits, enforced: Limits
) -> None:
    assert effective_limits(own, defaults) == enforced


@pytest.mark.unit
def test_a_zero_limit_is_stored_as_given(moto_tables: Tables) -> None:
    keys = KeyStore(moto_tables.client, moto_tables.keys)
    secret, _ = keys.create("app", Limits(rpm=0, tpm=10))
    found = keys.lookup(secret)
    assert found is not None and found.limits == Limits(rpm=0, tpm=10)


def _real_key(n: int) -> ApiKey:
    return ApiKey(f"key_{n:016x}", "app", "2026-11-30T00:00:00+00:00", "active", Limits(), "h")


@pytest.mark.unit
def test_a_flood_of_unknown_keys_never_evicts_real_ones() -> None:
    # GIVEN 50 real keys cached, and room for 100 unknown ones
    real = {f"sk-real-{n}": _real_key(n) for n in range(50)}
    reads: list[str] = []

    def lookup(secret: str) -> ApiKey | None:
        reads.append(secret)
        return real.get(secret)

    cached = CachedKeyLookup(lookup, ttl=30.0, clock=lambda: 0.0, max_unknown=100)
    for secret in real:
        assert cached(secret) == real[secret]
    # WHEN 10,000 random bogus keys arrive
    for n in range(10_000):
        assert cached(f"sk-bogus-{n}") is None
    # THEN every real key is still served from memory, and the unknown map stayed bounded
    reads.clear()
    assert all(cached(secret) == key for secret, key in real.items())
    assert reads == []
    assert cached.sizes == (50, 100)
    # a repeated bogus key is answered from the negative cache: no read
    assert cached("sk-bogus-9999") is None and reads == []
    # the oldest bogus keys were evicted, so they cost a read again
    assert cached("sk-bogus-0") is None and reads == ["sk-bogus-0"]


@pytest.mark.unit
def test_known_keys_are_bounded_too_and_evicted_least_recently_used() -> None:
    real = {f"sk-{n}": _real_key(n) for n in range(4)}
    reads: list[str] = []

    def lookup(secret: str) -> ApiKey | None:
        reads.append(secret)
        return real.get(secret)

    cached = CachedKeyLookup(lookup, ttl=30.0, clock=lambda: 0.0, max_entries=3)
    for secret in ("sk-0", "sk-1", "sk-2", "sk-0", "sk-3"):  # sk-0 used again before sk-3
        cached(secret)
    reads.clear()
    cached("sk-0")
    cached("sk-1")  # the least recently used one went
    assert reads == ["sk-1"]


@pytest.mark.unit
def test_an_overlong_bearer_token_costs_no_read() -> None:
    reads: list[str] = []
    cached = CachedKeyLookup(lambda s: reads.append(s), ttl=30.0)  # type: ignore[func-returns-value]
    assert cached("sk-" + "x" * MAX_SECRET_CHARS) is None
    assert reads == [] and cached.sizes == (0, 0)
    cached("sk-" + "x" * (MAX_SECRET_CHARS - 3))
    assert len(reads) == 1


@pytest.mark.unit
def test_key_hashes_stay_out_of_reprs(moto_tables: Tables) -> None:
    keys = KeyStore(moto_tables.client, moto_tables.keys)
    secret, key = keys.create("app", Limits(rpm=3))
    digest = hash_key(secret)
    found = keys.lookup(secret)
    assert found is not None and found.key_hash == digest  # still there to compare
    cached = CachedKeyLookup(keys.lookup, ttl=30.0)
    cached(secret)
    for shown in (key, found, keys.list(), cached, keys):
        assert digest not in repr(shown) and secret not in repr(shown)
        assert digest not in str(shown)
