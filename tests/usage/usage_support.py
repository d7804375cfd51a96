"""Test helpers: the tables under test, and scripted faults for a real botocore client.

Faults are injected at the HTTP send.
Each attempt of the chosen operation takes the next step: "pass" sends it, "throttle" and
"500" answer as DynamoDB would without sending, "timeout" raises botocore's read timeout
without sending, and "commit_then_timeout" sends it (the write happens) and then loses the
response, "conflict" answers as DynamoDB cancels a transaction that met another one on the
same item (TransactionConflict; nothing applied). botocore's own retry logic (standard mode)
sees these exactly as real faults. Answering steps need DynamoDB Local: on moto, moto's own
stubber still applies a request a hook has answered (only "timeout" stops it there).

`Contention` models DynamoDB's conflict rule for real, which DynamoDB Local does not: a
transaction is cancelled with TransactionConflict while another one touching the same item
is still in flight. It sends the request itself, so an item stays "in flight" for the whole
real round trip to DynamoDB Local.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HeadersDict
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from handler.records import UsageRecord

DAY = 86400


def make_record(
    key_id: str = "key_test",
    tokens: int = 7,
    inputs: int = 2,
    days_ago: int = 0,
    user: str | None = "end-user-1",
) -> UsageRecord:
    """A request's usage record, as the route builds it, `days_ago` days back."""
    return UsageRecord(
        request_id=str(uuid.uuid4()),
        key_id=key_id,
        model="all-MiniLM-L6-v2",
        prompt_tokens=tokens,
        total_tokens=tokens,
        inputs=inputs,
        dimensions=None,
        encoding_format="float",
        user=user,
        latency_ms=3.25,
        timestamp=time.time() - days_ago * DAY,
    )


@dataclass
class Tables:
    client: Any
    keys: str
    usage: str


ERRORS = {
    "throttle": (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    "500": (500, "InternalServerError", "Internal server error"),
}


def _json_response(request: AWSPreparedRequest, status: int, body: dict[str, Any]) -> AWSResponse:
    headers = HeadersDict({"content-type": "application/x-amz-json-1.0"})
    raw = _Raw(json.dumps(body).encode())
    return AWSResponse(request.url, status, headers, raw)  # type: ignore[arg-type]


def conflict_response(request: AWSPreparedRequest, items: int, conflicted: int) -> AWSResponse:
    """DynamoDB's answer to a transaction cancelled by a conflict on item `conflicted`."""
    codes = ["TransactionConflict" if n == conflicted else "None" for n in range(items)]
    return _json_response(
        request,
        400,
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "CancellationReasons": [{"Code": code} for code in codes],
            "Message": "Transaction cancelled, please refer cancellation reasons for specific "
            f"reasons [{', '.join(codes)}]",
        },
    )


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class Faults:
    def __init__(self, client: Any, operation: str, steps: Iterable[str] = ()) -> None:
        self.steps = list(steps)
        self.attempts = 0
        self.sent = 0
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-send.{service}.{operation}", self._before_send)

    def plan(self, *steps: str) -> None:
        self.steps = list(steps)

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        step = self.steps.pop(0) if self.steps else "pass"
        if step == "pass":
            self.sent += 1
            return None
        if step in ERRORS:
            status, code, message = ERRORS[step]
            body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
            return _json_response(request, status, body)
        if step == "conflict":
            return conflict_response(request, 2, 1)
        if step == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        if step == "commit_then_timeout":
            URLLib3Session().send(request)
            self.sent += 1
            raise ReadTimeoutError(endpoint_url=request.url)
        raise AssertionError(f"unknown fault step {step!r}")


def _item_ids(body: bytes) -> list[str]:
    """One id per item a TransactWriteItems request touches (table + key)."""
    ids = []
    for entry in json.loads(body)["TransactItems"]:
        ((_, action),) = entry.items()
        key = action.get("Key") or {k: action["Item"][k] for k in ("pk", "sk")}
        ids.append(json.dumps([action["TableName"], key], sort_keys=True))
    return ids


class Contention:
    """DynamoDB's conflict rule on a client's TransactWriteItems (see the module docstring).
    Counts what it did: `sent` transactions reached the table, `conflicts` were cancelled."""

    def __init__(self, client: Any) -> None:
        self.sent = 0
        self.conflicts = 0
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._session = URLLib3Session(max_pool_connections=64)
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(
            f"before-send.{service}.TransactWriteItems", self._before_send
        )

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        ids = _item_ids(body)
        with self._lock:
            busy = [n for n, item in enumerate(ids) if item in self._in_flight]
            if busy:
                self.conflicts += 1
            else:
                self._in_flight.update(ids)
                self.sent += 1
        if busy:
            return conflict_response(request, len(ids), busy[0])
        try:
            return self._session.send(request)
        finally:
            with self._lock:
                self._in_flight.difference_update(ids)


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


def stream_batches(ddb: Any, tables: Tables) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every record of the usage table's stream so far, per shard, from the start."""
    streams = ddb.client("dynamodbstreams")
    arn = tables.client.describe_table(TableName=tables.usage)["Table"]["LatestStreamArn"]
    batches = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            if not page["Records"]:
                break
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator")
        batches.append((shard["ShardId"], records))
    return batches


def drain(ddb: Any, tables: Tables, agg: Any) -> int:
    return sum(agg.apply(shard, records) for shard, records in stream_batches(ddb, tables))
