"""API keys: creation, lookup by sha256, revocation, and a short-TTL in-memory cache.

Only the sha256 of a key is stored; the secret is printed once by the CLI. Failure policy:
a DynamoDB error while checking a key propagates (the request fails with 5xx rather than
letting an unchecked key through); a cached verdict is served for at most `ttl` seconds,
which is how long a revocation can take to reach a warm container.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from handler.usage.store import KEY_HASH, Client

BEARER = "bearer "  # how every OpenAI client sends its key, case-insensitively

KEY_PREFIX = "sk-"
# Longer than any key this service issues ("sk-" + 43 characters) or an operator would pick:
# a longer bearer token is refused without hashing it or reading the table.
MAX_SECRET_CHARS = 256
ACTIVE = "active"
REVOKED = "revoked"


UNLIMITED = 0  # a key's own limit of 0: no limit, whatever the deployment's default


@dataclass(frozen=True)
class Limits:
    """A key's own limits as stored: None = not set (the deployment default applies),
    UNLIMITED = explicitly none. The gate sees only effective_limits(): None or >= 1."""

    rpm: int | None = field(default=None, metadata={"help": "requests per minute"})
    tpm: int | None = field(default=None, metadata={"help": "tokens per minute"})
    monthly_tokens: int | None = field(
        default=None, metadata={"help": "token budget per calendar month (UTC)"}
    )

    def items(self) -> list[tuple[str, int | None]]:
        """(name, value) of every limit, in LIMIT_NAMES order."""
        return [(name, getattr(self, name)) for name in LIMIT_NAMES]

    @property
    def limited(self) -> bool:
        return any(value is not None for _, value in self.items())


# The limit fields, named once (the class above): the keys table's attributes, the CLI's
# options and the deployment defaults (Settings.default_<name>) all follow them.
LIMIT_NAMES = tuple(f.name for f in fields(Limits))
LIMIT_HELP = {f.name: str(f.metadata["help"]) for f in fields(Limits)}


def effective_limits(own: Limits, defaults: Limits) -> Limits:
    """The limits enforced for a key: each of its own where set, else the deployment's
    default; UNLIMITED (from either) becomes None."""

    def pick(mine: int | None, default: int | None) -> int | None:
        value = default if mine is None else mine
        return None if value == UNLIMITED else value

    return Limits(
        **{name: pick(getattr(own, name), getattr(defaults, name)) for name in LIMIT_NAMES}
    )


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    created: str
    status: str
    limits: Limits
    key_hash: str = field(repr=False)  # never logged nor shown; kept to compare in constant time

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


def bearer_secret(header: str | None) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header; None when there is none."""
    if not header or not header[: len(BEARER)].lower() == BEARER:
        return None
    return header[len(BEARER) :].strip() or None


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _limit_attrs(limits: Limits) -> dict[str, Any]:
    return {name: {"N": str(value)} for name, value in limits.items() if value is not None}


def _optional_int(item: dict[str, Any], name: str) -> int | None:
    return int(item[name]["N"]) if name in item else None


def _from_item(item: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=item["key_id"]["S"],
        name=item.get("name", {"S": ""})["S"],
        created=item["created"]["S"],
        status=item["status"]["S"],
        limits=Limits(**{name: _optional_int(item, name) for name in LIMIT_NAMES}),
        key_hash=item[KEY_HASH]["S"],
    )


class KeyStore:
    """The keys table. `client` is a botocore DynamoDB client (moto, DynamoDB Local, AWS)."""

    def __init__(self, client: Client, table: str) -> None:
        self.client = client
        self.table = table

    def create(
        self, name: str, limits: Limits = Limits(), secret: str | None = None
    ) -> tuple[str, ApiKey]:
        """Store a new key; return (secret, key). The secret is not recoverable afterwards."""
        secret = secret or new_secret()
        key = ApiKey(
            key_id="key_" + secrets.token_hex(8),
            name=name,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            status=ACTIVE,
            limits=limits,
            key_hash=hash_key(secret),
        )
        item = {
            KEY_HASH: {"S": key.key_hash},
            "key_id": {"S": key.key_id},
            "name": {"S": name},
            "created": {"S": key.created},
            "status": {"S": ACTIVE},
            **_limit_attrs(limits),
        }
        self.client.put_item(
            TableName=self.table,
            Item=item,
            ConditionExpression="attribute_not_exists(#h)",
            ExpressionAttributeNames={"#h": KEY_HASH},
        )
        return secret, key

    def lookup(self, secret: str) -> ApiKey | None:
        """The key whose sha256 matches `secret`, compared in constant time; None if unknown."""
        digest = hash_key(secret)
        item = self.client.get_item(
            TableName=self.table, Key={KEY_HASH: {"S": digest}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        key = _from_item(item)
        return key if hmac.compare_digest(key.key_hash, digest) else None

    def by_hash(self, key_hash: str) -> ApiKey | None:
        """The key stored under `key_hash` (a strongly consistent read); None if none."""
        item = self.client.get_item(
            TableName=self.table, Key={KEY_HASH: {"S": key_hash}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else _from_item(item)

    def owner(self, key_id: str, key_hash: str | None) -> ApiKey | None:
        """The key that owns a batch, read now (no cache: a batch's next shard must see a
        revocation at once): by its hash, which the batch item keeps, or, for a batch stored
        without one, by its id (a scan of the keys table). None when it is gone."""
        key = self.by_hash(key_hash) if key_hash else self.find(key_id)
        return key if key is not None and key.key_id == key_id else None

    def still_active(self, key_id: str, key_hash: str | None) -> bool:
        """Whether the key that owns a batch is still active (not revoked, not deleted)."""
        key = self.owner(key_id, key_hash)
        return key is not None and key.active

    def list(self) -> list[ApiKey]:
        keys: list[ApiKey] = []
        kwargs: dict[str, Any] = {"TableName": self.table}
        while True:
            page = self.client.scan(**kwargs)
            keys.extend(_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(keys, key=lambda k: k.created)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def find(self, key_id: str) -> ApiKey | None:
        return next((k for k in self.list() if k.key_id == key_id), None)

    def revoke(self, key_id: str) -> bool:
        """Mark a key revoked; False if no such key id."""
        key = self.find(key_id)
        if key is None:
            return False
        self.client.update_item(
            TableName=self.table,
            Key={KEY_HASH: {"S": key.key_hash}},
            UpdateExpression="SET #s = :revoked, revoked_at = :now",
            ConditionExpression="attribute_exists(#h)",
            ExpressionAttributeNames={"#s": "status", "#h": KEY_HASH},
            ExpressionAttributeValues={
                ":revoked": {"S": REVOKED},
                ":now": {"S": datetime.now(UTC).isoformat(timespec="seconds")},
            },
        )
        return True


class _Lru:
    """A bounded map that evicts its least recently used entry (not thread-safe alone)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()

    def get(self, digest: str) -> tuple[float, ApiKey | None] | None:
        hit = self._entries.get(digest)
        if hit is not None:
            self._entries.move_to_end(digest)
        return hit

    def put(self, digest: str, entry: tuple[float, ApiKey | None]) -> None:
        self._entries[digest] = entry
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def pop(self, digest: str) -> None:
        self._entries.pop(digest, None)

    def __len__(self) -> int:
        return len(self._entries)


class CachedKeyLookup:
    """Key lookups remembered for `ttl` seconds, keyed by sha256: keys found in the table
    (active or revoked) and unknown keys in two separate bounded LRU maps, so a flood of
    random keys only ever evicts other unknown keys, never a real one. A bearer token longer
    than MAX_SECRET_CHARS is unknown without a read."""

    def __init__(
        self,
        lookup: Callable[[str], ApiKey | None],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
        max_unknown: int = 10_000,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._clock = clock
        self._known = _Lru(max_entries)
        self._unknown = _Lru(max_unknown)
        self._lock = threading.Lock()
        self.reads = 0  # table lookups made (cache misses)

    def __call__(self, secret: str) -> ApiKey | None:
        if len(secret) > MAX_SECRET_CHARS:
            return None
        digest = hash_key(secret)
        now = self._clock()
        with self._lock:
            hit = self._known.get(digest) or self._unknown.get(digest)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        key = self._lookup(secret)
        with self._lock:
            self.reads += 1
            if key is None:
                self._known.pop(digest)  # deleted from the table since
                self._unknown.put(digest, (now, None))
            else:
                self._unknown.pop(digest)  # created since a failed try
                self._known.put(digest, (now, key))
        return key

    @property
    def sizes(self) -> tuple[int, int]:
        """(known keys, unknown keys) cached now."""
        with self._lock:
            return len(self._known), len(self._unknown)
