"""Table layout, clients and the AWS contract of the keys/usage store.

Environment (read once in handler/settings.py):
  KEYS_TABLE                 keys table name (default "embeddings-keys")
  USAGE_TABLE                usage table name (default "embeddings-usage")
  USAGE_FALLBACK_QUEUE_URL   SQS queue URL for usage records DynamoDB refused ("" = log only)
  AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS   botocore's own overrides (DynamoDB Local)

IAM actions the embeddings FUNCTION calls (nothing else):
  keys table:   dynamodb:GetItem
  usage table:  dynamodb:UpdateItem (the quota item), dynamodb:Query (GET /v1/usage),
                dynamodb:GetItem (the monthly counter, before a batch is created), and
                dynamodb:PutItem (the request item; USAGE_AGGREGATION=inline also
                dynamodb:UpdateItem, both through TransactWriteItems: IAM checks the actions
                inside a transaction, there is no TransactWriteItems action)
  queue:        sqs:SendMessage
The optional queue-drain function (handler/usage/replay_handler.handler): dynamodb:PutItem,
dynamodb:UpdateItem on the usage table; sqs:ReceiveMessage, sqs:DeleteMessage,
sqs:GetQueueAttributes (for its event source mapping).
The operator CLI (`python -m handler.usage.cli`, the operator's own credentials):
  keys table:   dynamodb:PutItem, dynamodb:GetItem, dynamodb:Scan, dynamodb:UpdateItem
  usage table:  dynamodb:Query, dynamodb:PutItem, dynamodb:UpdateItem (replay, replay-logs)
  queue:        sqs:ReceiveMessage, sqs:DeleteMessage
The usage AGGREGATOR (handler/usage/aggregator_handler.handler, USAGE_AGGREGATION=stream):
  usage table:  dynamodb:UpdateItem (the day aggregates, each with its shard's watermark)
  usage table:  dynamodb:BatchGetItem (UsageLedger=Kinesis: the producers' watermarks)
  its stream:   dynamodb:DescribeStream, dynamodb:GetRecords, dynamodb:GetShardIterator,
                dynamodb:ListStreams (for its event source mapping)
The BATCH WORKER's usage calls (handler/usage/budget.py, handler/batch/admission.py):
  keys table:   dynamodb:GetItem (the batch's key: still active? its monthly budget)
  usage table:  dynamodb:PutItem + dynamodb:UpdateItem (the ledger, as the function), and
                dynamodb:GetItem + dynamodb:DeleteItem (admission items, their refund), and
                dynamodb:Query (a stopped shard's admission items, to refund them)
  queue:        sqs:SendMessage

Keys table: partition key `key_hash` (S, sha256 hex of the secret), no sort key, no GSI,
no TTL. Attributes: key_id, name, created (ISO-8601), status ("active" | "revoked"),
optional rpm, tpm, monthly_tokens (N).

Usage table (single-table design): partition key `pk` (S), sort key `sk` (S), TTL attribute
`expires_at` (N, epoch seconds), no GSI, a NEW_IMAGE stream (the aggregator reads it).
  pk="REQ#<request_id>"  sk="REQ"               one per successful request (exactly once);
                                                inline=true when its day was added with it
  pk="KEY#<key_id>"      sk="DAY#<YYYY-MM-DD>#<shard>"  daily aggregate, split over
                                                DAY_SHARDS items (shard from the request id) so a
                                                busy key's transactions rarely meet on one item:
                                                requests, inputs, prompt_tokens, total_tokens
                                                (no TTL); readers sum a day's shards
  pk="KEY#<key_id>"      sk="MON#<YYYY-MM>"      the key's quotas: tokens (the month's), and the
                                                current minute: minute_id, minute_requests,
                                                minute_tokens (handler/usage/quotas.py; TTL)
  pk="KEY#<key_id>"      sk="DAY#<YYYY-MM-DD>#<stream shard id>"  the same counts, added by
                                                the aggregator from one stream shard, with seq:
                                                the last sequence number counted in it
  pk="ADMIT#<batch_id>"  sk="LINE#<first line>"  a batch line group's admission against the
                                                monthly budget: admitted mask, tokens charged
                                                (TTL: with the month's counter)
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config

    from handler.settings import Settings

KEY_HASH = "key_hash"
PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"
DAY_PREFIX = "DAY#"
# Day aggregates per key and day. DynamoDB cancels a transaction that meets another on the
# same item, so one item per day caps a key at one usage write per round trip; with N shards
# concurrent writes of one key conflict about N times less often. Readers query the day range
# and sum, so changing N later needs no migration.
DAY_SHARDS = 16

Client = Any  # a botocore DynamoDB or SQS client; botocore ships no static types


class LazyClient:
    """A botocore client built on a background thread from construction on, so its ~0.1-0.3 s
    of imports and model loading overlap the model's load at cold start."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._client: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._build, args=(build,), daemon=True)
        self._thread.start()

    def _build(self, build: Callable[[], Any]) -> None:
        try:
            self._client = build()
        except BaseException as exc:  # re-raised in the thread that needs the client
            self._error = exc

    def __getattr__(self, name: str) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return getattr(self._client, name)


class OnDemandClient:
    """A client built by its first use, for one that most containers never call (the usage
    fallback queue: only when DynamoDB refuses a record; the Batch API's boto3 clients, which
    only its routes call: handler/batch/service.py). Built at cold start the queue's
    cost ~40 ms of CPU and ~0.1 s of wall time beside the model's load (`make bench`,
    cold_start section, 2026-12-05). A build that fails is tried again by the next use."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._client is not None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
        return getattr(self._client, name)


def quiet_botocore() -> None:
    """botocore's DEBUG lines print request and response bodies, which carry key hashes:
    keep its loggers at INFO or above whatever the root level is."""
    botocore_log = logging.getLogger("botocore")
    botocore_log.setLevel(max(logging.INFO, botocore_log.getEffectiveLevel()))


def client_config(
    connect_timeout: float, read_timeout: float, max_attempts: int, connections: int = 10
) -> Config:
    """Bounded retries (botocore standard mode) and short timeouts, within a request's budget;
    `connections`: as many as threads may call at once, or the extra ones are opened and dropped."""
    from botocore.config import Config  # here, so the import runs on LazyClient's thread

    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        tcp_keepalive=True,
        max_pool_connections=connections,
    )


def make_client(service: str, config: Config) -> Client:
    """A botocore client (cheaper to import and build than boto3's); the endpoint comes from
    botocore's own AWS_ENDPOINT_URL_* variables."""
    import botocore.session

    session = botocore.session.get_session()
    if not session.get_config_variable("data_path"):  # AWS_DATA_PATH: botocore's own loader
        session.register_component("data_loader", _service_loader(service))
    return session.create_client(service, config=config)


def _service_loader(service: str) -> Any:
    """botocore's data loader for a session that builds one client of `service`. botocore's
    own checks each model's service name against a listing of every service it ships (~400
    directories, twice per client): ~12 ms of a client's ~50 ms of CPU, on the thread the
    first request waits for (`make bench`, cold_start section, 2026-12-05). This one checks
    the one name against its own directory; every model loads from the same files."""
    from botocore.exceptions import DataNotFoundError
    from botocore.loaders import Loader

    class ServiceLoader(Loader):  # type: ignore[misc]
        def list_available_services(self, type_name: str) -> list[str]:
            try:
                self.determine_latest_version(service, type_name)
            except DataNotFoundError:
                return []
            return [service]

    return ServiceLoader()


def client_for(service: str, settings: Settings, connections: int = 10) -> Client:
    """A client with the deployment's DynamoDB timeouts and attempts (the function and the
    replay function both use these)."""
    config = client_config(
        settings.dynamodb_connect_timeout_ms / 1000,
        settings.dynamodb_read_timeout_ms / 1000,
        settings.dynamodb_max_attempts,
        connections=connections,
    )
    return make_client(service, config)


def error_code(exc: BaseException) -> str:
    """A botocore ClientError's code ("ConditionalCheckFailedException"...); "" for others."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def request_key(request_id: str) -> dict[str, Any]:
    return {PK: {"S": f"REQ#{request_id}"}, SK: {"S": "REQ"}}


def day_shard(request_id: str) -> int:
    """A request's day-aggregate shard: stable, so a retry or replay picks the same item."""
    return zlib.crc32(request_id.encode()) % DAY_SHARDS


def key_partition(key_id: str) -> str:
    """The partition holding one key's day aggregates and quota counters."""
    return f"KEY#{key_id}"


def day_key(key_id: str, day: str, shard: int) -> dict[str, Any]:
    return {PK: {"S": key_partition(key_id)}, SK: {"S": f"{DAY_PREFIX}{day}#{shard:02d}"}}


def day_stream_key(key_id: str, day: str, stream_shard: str) -> dict[str, Any]:
    """The day item the aggregator keeps for one stream shard (handler/usage/aggregator.py)."""
    return {PK: {"S": key_partition(key_id)}, SK: {"S": f"{DAY_PREFIX}{day}#{stream_shard}"}}


def day_range(start: str, end: str) -> tuple[str, str]:
    """Sort-key bounds of every day item from `start` to `end` (YYYY-MM-DD), any shard,
    including the unsharded DAY#<date> items written before sharding."""
    return f"{DAY_PREFIX}{start}", f"{DAY_PREFIX}{end}#~"  # "~" sorts after every shard


def day_of(sort_key: str) -> str:
    """The YYYY-MM-DD of a day item's sort key, sharded or not."""
    return sort_key.removeprefix(DAY_PREFIX)[:10]


def minute_key(key_id: str, minute: str) -> dict[str, Any]:
    return {PK: {"S": key_partition(key_id)}, SK: {"S": f"MIN#{minute}"}}


def month_key(key_id: str, month: str) -> dict[str, Any]:
    return {PK: {"S": key_partition(key_id)}, SK: {"S": f"MON#{month}"}}


def create_tables(client: Client, keys_table: str, usage_table: str) -> None:
    """Create both tables (local serve and tests; the SAM template declares them in AWS)."""
    existing = set(client.list_tables().get("TableNames", []))
    if keys_table not in existing:
        client.create_table(
            TableName=keys_table,
            AttributeDefinitions=[{"AttributeName": KEY_HASH, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY_HASH, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    if usage_table not in existing:
        client.create_table(
            TableName=usage_table,
            AttributeDefinitions=[
                {"AttributeName": PK, "AttributeType": "S"},
                {"AttributeName": SK, "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": PK, "KeyType": "HASH"},
                {"AttributeName": SK, "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
            # The aggregator reads new request items from here (USAGE_AGGREGATION=stream).
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        client.get_waiter("table_exists").wait(TableName=usage_table)
        client.update_time_to_live(
            TableName=usage_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    client.get_waiter("table_exists").wait(TableName=keys_table)
