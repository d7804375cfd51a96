"""The bill's arithmetic: what one counted AWS call is billed as, and what a count costs.

Pure functions (no boto3, no I/O), so each rounding rule is unit-tested against hand-computed
cases (tests/bench/test_billing.py). The rules, as the services document them:

- DynamoDB on demand: a write is 1 write unit per started KB of the item (the larger of the
  item before and after, for an update), a read 1 read unit per started 4 KB (a query sums
  its items first); transactional reads and writes cost twice, an eventually consistent read
  half. Item size: the UTF-8 bytes of every attribute name plus its value (a string's UTF-8
  bytes, a number's 1 byte per two significant digits + 1, a binary's raw bytes, 1 for a
  boolean or null, 3 + 1 per element for a list or map). DynamoDB's own ReturnConsumedCapacity
  figure wins whenever the response carries one; the size estimate is the fallback and, for
  an update, a lower bound (the item's attributes the request does not name are unknown).
- SQS: one request per started 64 KB of payload (a batch of messages is one payload).
- S3: PUT, COPY, POST and LIST at one price, GET and the rest at another, DELETE free.
- Lambda: per invocation, plus duration rounded up to the next 1 ms at the configured memory.
- API Gateway HTTP API: one request per started 512 KB; REST API: per request.
- CloudWatch Logs: per GB ingested; X-Ray: per trace recorded, at the sampling rate.
- A cold start: its init phase billed like handler time, in 1 ms steps at the memory; with
  SnapStart, a restore per GB of memory instead, plus the snapshot's cache per GB-second.
- DynamoDB provisioned capacity: per unit-hour reserved, whatever is used; one write unit per
  second per WCU.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from bench.prices import PRICES

KB = 1024
WRITE_UNIT_BYTES = KB
READ_UNIT_BYTES = 4 * KB
SQS_CHUNK_BYTES = 64 * KB
KINESIS_PUT_UNIT_BYTES = 25 * KB  # a PUT payload unit: each record, in started 25 KB chunks
HTTP_API_METER_BYTES = 512 * KB
GB = 1024**3

DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
S3_PUT_CLASS = frozenset(
    {
        "PutObject", "CopyObject", "UploadPart", "UploadPartCopy", "CreateMultipartUpload",
        "CompleteMultipartUpload", "ListObjects", "ListObjectsV2", "ListParts",
        "ListMultipartUploads", "ListBuckets", "CreateBucket", "PostObject",
    }
)  # fmt: skip
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})


# --- DynamoDB item sizes and units -------------------------------------------------------


def number_size(text: str) -> int:
    """Bytes of a DynamoDB number: 1 per two significant digits (leading and trailing zeros
    trimmed), plus 1."""
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        digits = tuple(int(c) for c in text if c.isdigit())
    significant = "".join(str(d) for d in digits).strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def _raw_length(value: Any) -> int:
    return len(value) if isinstance(value, bytes | bytearray) else len(str(value).encode())


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's wire form ({"S": ...}, {"N": ...}, ...)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return number_size(str(inner))
    if kind == "B":
        return _raw_length(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in inner)
    if kind == "NS":
        return sum(number_size(str(n)) for n in inner)
    if kind == "BS":
        return sum(_raw_length(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes of an item (or a key): every attribute's name plus its value."""
    return sum(len(name.encode()) + value_size(value) for name, value in attributes.items())


def write_units(size: int, transactional: bool = False) -> int:
    """Write request units for one item of `size` bytes: 1 per started KB (at least 1)."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return units * (2 if transactional else 1)


def read_units(size: int, consistent: bool = False, transactional: bool = False) -> float:
    """Read request units for `size` bytes read: 1 per started 4 KB (at least 1), x2 in a
    transaction, x1/2 when eventually consistent."""
    units = float(max(1, math.ceil(size / READ_UNIT_BYTES)))
    if transactional:
        return units * 2
    return units if consistent else units / 2


def _update_size(request: Mapping[str, Any]) -> int:
    """An update's item as far as the request tells: its key, the values it sets and the
    attribute names it spells out (a lower bound: other attributes are not in the request)."""
    values = request.get("ExpressionAttributeValues") or {}
    names = request.get("ExpressionAttributeNames") or {}
    return (
        item_size(request.get("Key") or {})
        + sum(value_size(v) for v in values.values())
        + sum(len(n.encode()) for n in names.values())
    )


def _written_size(kind: str, request: Mapping[str, Any]) -> int:
    if kind == "Put":
        return item_size(request.get("Item") or {})
    if kind == "Update":
        return _update_size(request)
    return item_size(request.get("Key") or {})  # Delete, ConditionCheck


def estimated_units(
    operation: str, params: Mapping[str, Any], response: Mapping[str, Any]
) -> tuple[float, float]:
    """(write units, read units) of one DynamoDB call, sized from its request and response."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        kind = operation.removesuffix("Item")
        return float(write_units(_written_size(kind, params))), 0.0
    if operation == "TransactWriteItems":
        total = 0
        for entry in params.get("TransactItems", []):
            for kind, request in entry.items():
                total += write_units(_written_size(kind, request), transactional=True)
        return float(total), 0.0
    if operation == "BatchWriteItem":
        total = 0
        for requests in (params.get("RequestItems") or {}).values():
            for request in requests:
                put = request.get("PutRequest")
                size = item_size(put["Item"] if put else request["DeleteRequest"]["Key"])
                total += write_units(size)
        return float(total), 0.0
    consistent = bool(params.get("ConsistentRead"))
    if operation == "GetItem":
        return 0.0, read_units(item_size(response.get("Item") or {}), consistent)
    if operation in ("Query", "Scan"):
        size = sum(item_size(item) for item in response.get("Items") or [])
        return 0.0, read_units(size, consistent)
    if operation == "TransactGetItems":
        items = [r.get("Item") or {} for r in response.get("Responses") or []]
        return 0.0, sum(read_units(item_size(i), transactional=True) for i in items)
    if operation == "BatchGetItem":
        tables = (response.get("Responses") or {}).values()
        return 0.0, sum(read_units(item_size(i), consistent) for t in tables for i in t)
    return 0.0, 0.0  # control plane (CreateTable, DescribeTable, ...): not billed per call


def consumed_units(operation: str, response: Mapping[str, Any]) -> tuple[float, float] | None:
    """(write units, read units) as DynamoDB reported them (ReturnConsumedCapacity), or None
    when the response carries no figure (an error, or an operation without one)."""
    consumed = response.get("ConsumedCapacity")
    if not consumed:
        return None
    entries = consumed if isinstance(consumed, list) else [consumed]
    total = sum(float(e.get("CapacityUnits", 0.0)) for e in entries)
    if operation in DYNAMODB_WRITES:
        return total, 0.0
    if operation in DYNAMODB_READS:
        return 0.0, total
    return None


# --- SQS, S3, Lambda, the front door -----------------------------------------------------


def sqs_requests(payload_bytes: int) -> int:
    """Billed SQS requests for one call carrying `payload_bytes`: 1 per started 64 KB."""
    return max(1, math.ceil(payload_bytes / SQS_CHUNK_BYTES))


def sqs_payload(operation: str, params: Mapping[str, Any], response: Mapping[str, Any]) -> int:
    """Bytes of message payload a call sends or receives (0 for the other operations)."""
    if operation == "SendMessage":
        return len(str(params.get("MessageBody", "")).encode())
    if operation == "SendMessageBatch":
        return sum(len(str(e.get("MessageBody", "")).encode()) for e in params.get("Entries", []))
    if operation == "ReceiveMessage":
        return sum(len(str(m.get("Body", "")).encode()) for m in response.get("Messages") or [])
    return 0


def kinesis_put_units(operation: str, params: Mapping[str, Any]) -> int:
    """Kinesis PUT payload units a call is billed: per record, one per started 25 KB of its
    data and partition key (0 for the calls that put nothing)."""
    if operation == "PutRecord":
        records: Any = [params]
    elif operation == "PutRecords":
        records = params.get("Records") or []
    else:
        return 0
    sizes = (
        len(r.get("Data", b"")) + len(str(r.get("PartitionKey", "")).encode()) for r in records
    )
    return sum(max(1, math.ceil(size / KINESIS_PUT_UNIT_BYTES)) for size in sizes)


def s3_class(operation: str) -> str:
    """ "put", "get" or "free": the S3 request price an operation is billed at."""
    if operation in S3_FREE:
        return "free"
    return "put" if operation in S3_PUT_CLASS else "get"


def billed_ms(duration_ms: float) -> int:
    """Lambda's billed duration: rounded up to the next millisecond."""
    return max(1, math.ceil(duration_ms))


def http_api_requests(request_bytes: int, response_bytes: int) -> int:
    """HTTP API requests billed for one call: 1 per started 512 KB of the larger body."""
    return max(1, math.ceil(max(request_bytes, response_bytes) / HTTP_API_METER_BYTES))


# --- pricing a count ---------------------------------------------------------------------

FRONT_DOORS = {
    "http_api": "http_api_request",
    "rest_api": "rest_api_request",
    "function_url": "function_url_request",
}


def price(count: Mapping[str, float], memory_mb: int, front_door: str) -> dict[str, float]:
    """USD of each part of the bill for `count` (totals of one workload: invocations, billed
    ms, DynamoDB units, SQS requests, S3 requests, front-door requests, log bytes, traces).

    `front_door` is a FRONT_DOORS key; HTTP API requests use the 512 KB metered count."""
    p = PRICES
    if front_door == "http_api":
        door = count.get("http_api_requests", 0.0) * p["http_api_request"].each
    else:
        door = count.get("api_requests", 0.0) * p[FRONT_DOORS[front_door]].each
    gb_seconds = count.get("billed_ms", 0.0) / 1000 * memory_mb / 1024
    return {
        "lambda_requests": count.get("invocations", 0.0) * p["lambda_request"].each,
        "lambda_duration": gb_seconds * p["lambda_arm64_gb_second"].each,
        "dynamodb_writes": count.get("write_units", 0.0) * p["dynamodb_write_unit"].each,
        "dynamodb_reads": count.get("read_units", 0.0) * p["dynamodb_read_unit"].each,
        "sqs": count.get("sqs_requests", 0.0) * p["sqs_request"].each,
        "kinesis": count.get("kinesis_put_units", 0.0) * p["kinesis_put_unit"].each,
        "s3": count.get("s3_put", 0.0) * p["s3_put"].each
        + count.get("s3_get", 0.0) * p["s3_get"].each,
        "front_door": door,
        "logs": count.get("log_bytes", 0.0) / GB * p["logs_ingest_gb"].each,
        "xray": count.get("traces", 0.0) * p["xray_trace"].each,
    }


def shares(parts: Mapping[str, float]) -> dict[str, float]:
    """Each part's share of the total, in percent (0 everywhere for a zero bill)."""
    total = sum(parts.values())
    return {k: (round(100 * v / total, 1) if total else 0.0) for k, v in parts.items()}


# --- cold starts -------------------------------------------------------------------------

SECONDS_PER_MONTH = 730 * 3600  # AWS's pricing month


def init_usd(init_s: float, memory_mb: int) -> float:
    """USD of one cold start's init phase on arm64, billed in 1 ms steps at `memory_mb`."""
    gb_seconds = billed_ms(init_s * 1000) / 1000 * memory_mb / 1024
    return gb_seconds * PRICES["lambda_init_arm64_gb_second"].each


def snapstart_usd(memory_mb: int) -> dict[str, float]:
    """SnapStart's prices at `memory_mb`: one restore, and a month of one version's cache."""
    gb = memory_mb / 1024
    return {
        "restore": gb * PRICES["snapstart_restore_gb"].each,
        "cache_month": gb * SECONDS_PER_MONTH * PRICES["snapstart_cache_gb_second"].each,
    }


# --- DynamoDB provisioned capacity -------------------------------------------------------


def provisioned_break_even(write_units: float, read_units: float = 0.0) -> dict[str, float]:
    """On-demand against provisioned capacity for steady traffic of `write_units` and
    `read_units` per request.

    - `min_requests_per_second`: the rate whose on-demand bill equals the smallest
      provisioned table (1 WCU and, with reads, 1 RCU, around the clock);
    - `max_peak_to_mean`: capacity must be provisioned for the peak, so provisioned costs
      less only while peak / mean stays below on-demand's price over a used unit's;
    - `saving_at_peak_to_mean_1_43`: provisioned's saving at auto scaling's usual 70%
      target utilisation (peak / mean 1/0.7), as a share of the on-demand bill.
    """
    p = PRICES
    wcu_second = p["dynamodb_wcu_hour"].each / 3600
    rcu_second = p["dynamodb_rcu_hour"].each / 3600
    on_demand = (
        write_units * p["dynamodb_write_unit"].each + read_units * p["dynamodb_read_unit"].each
    )  # USD per request
    used = write_units * wcu_second + read_units * rcu_second  # USD per request at 100% use
    smallest = wcu_second + (rcu_second if read_units else 0.0)  # USD per second
    return {
        "on_demand_usd_per_million": on_demand * 1e6,
        "provisioned_usd_per_million_fully_used": used * 1e6,
        "min_requests_per_second": smallest / on_demand,
        "max_peak_to_mean": on_demand / used,
        "saving_at_peak_to_mean_1_43": 1 - used / 0.7 / on_demand,
    }
