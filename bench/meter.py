"""Count what the deployed code makes AWS do: every API call, and every byte it logs.

`Meter.install()` wraps botocore's `Session.create_client`, the one door every client goes
through (the usage service's botocore clients, the batch service's boto3 ones, built lazily
or on a thread), and registers two hooks on each new client's event system:

- `before-parameter-build`: asks DynamoDB for ReturnConsumedCapacity=TOTAL, so the unit
  figure is DynamoDB's own (DynamoDB Local answers it too); the code under test never reads it;
- `after-call` / `after-call-error`: one Call per API call (retries included, from botocore's
  RetryAttempts), with its billed units worked out by bench/billing.py from the request and
  the response, before either is dropped.

Install it before the code under test builds a client. Bytes: `CountingStream` stands in for
stdout (the EMF lines), `LogBytes` is a logging handler at the template's application log
level that sizes each record as Lambda's JSON format would write it.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import billing
from bench.client_watch import watch_new_clients


@dataclass
class Call:
    service: str
    operation: str
    attempts: int = 1
    error: str = ""
    write_units: float = 0.0
    read_units: float = 0.0
    units_from: str = ""  # "consumed" (DynamoDB said) or "estimated" (sized here)
    estimated_write_units: float = 0.0
    estimated_read_units: float = 0.0
    consumed_write_units: float = 0.0  # as DynamoDB (Local) reported them, 0 when it did not
    consumed_read_units: float = 0.0
    sqs_requests: int = 0
    kinesis_put_units: int = 0
    s3_put: int = 0
    s3_get: int = 0
    table: str = ""  # a DynamoDB call's table (a transaction's first item's)
    ms: float = 0.0  # the call's wall time, retries included: a wait Lambda bills as duration
    thread: int = 0  # the thread that made it (a wait beside the request's own thread overlaps)


def _dynamodb(call: Call, operation: str, params: Any, parsed: Any) -> None:
    est_w, est_r = billing.estimated_units(operation, params, parsed)
    call.estimated_write_units, call.estimated_read_units = est_w, est_r
    consumed = billing.consumed_units(operation, parsed)
    if consumed is not None:
        call.consumed_write_units, call.consumed_read_units = consumed
    if consumed is not None and consumed[0] >= est_w and consumed[1] >= est_r:
        call.write_units, call.read_units = consumed
        call.units_from = "consumed"
    else:
        # No figure (errors, a failed condition being billed too), or one below DynamoDB's
        # documented rounding: DynamoDB Local reports a transaction at 1 unit per item, not
        # the 2 that DynamoDB bills. The estimate is then the better figure.
        call.write_units, call.read_units = est_w, est_r
        call.units_from = "estimated" if est_w or est_r else ""


def table_of(params: Any) -> str:
    """The table a DynamoDB request writes or reads (a transaction's: its first item's)."""
    if "TableName" in params:
        return str(params["TableName"])
    for item in params.get("TransactItems") or []:
        for action in item.values():
            return str(action.get("TableName", ""))
    return ""


def make_call(service: str, operation: str, params: Any, parsed: Any, error: str = "") -> Call:
    """One Call with its billed units (`parsed`: botocore's parsed response, {} when none)."""
    metadata = parsed.get("ResponseMetadata") or {}
    call = Call(service, operation, 1 + int(metadata.get("RetryAttempts", 0)), error)
    if service == "dynamodb":
        call.table = table_of(params)
        _dynamodb(call, operation, params, parsed)
    elif service == "sqs":
        payload = billing.sqs_payload(operation, params, parsed)
        call.sqs_requests = billing.sqs_requests(payload) * call.attempts
    elif service == "kinesis":
        call.kinesis_put_units = billing.kinesis_put_units(operation, params) * call.attempts
    elif service == "s3":
        kind = billing.s3_class(operation)
        if kind != "free":
            setattr(call, f"s3_{kind}", call.attempts)
    return call


class Meter:
    """Collects Calls from every botocore client built after `install()`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._restore: Callable[[], None] | None = None

    def install(self) -> None:
        if self._restore is None:
            self._restore = watch_new_clients(self.watch)

    def uninstall(self) -> None:
        """Clients built from now on are not watched (those built before still are)."""
        if self._restore is not None:
            self._restore()
            self._restore = None

    def watch(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        events = client.meta.events
        if service == "dynamodb":
            events.register("before-parameter-build.dynamodb", _ask_consumed_capacity)
        events.register("before-parameter-build", _keep_params)
        events.register("before-call", _stamp)
        events.register("after-call", self._after_call)
        events.register("after-call-error", self._after_error)

    def _after_call(self, http_response: Any, parsed: Any, model: Any, context: Any,
                    **_: Any) -> None:  # fmt: skip
        error = str((parsed.get("Error") or {}).get("Code", "")) if parsed else ""
        params = context.get("bench_params") or {}
        call = make_call(model.service_model.service_name, model.name, params, parsed or {}, error)
        _timed(call, context)
        with self._lock:
            self.calls.append(call)

    def _after_error(self, model: Any, context: Any, exception: Exception, **_: Any) -> None:
        call = Call(model.service_model.service_name, model.name, error=type(exception).__name__)
        _timed(call, context)
        with self._lock:
            self.calls.append(call)

    def take(self) -> list[Call]:
        """The calls counted since the last take, and forget them."""
        with self._lock:
            taken, self.calls = self.calls, []
        return taken


def _ask_consumed_capacity(params: Any, model: Any, **_: Any) -> None:
    if "ReturnConsumedCapacity" in model.input_shape.members:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")


def _stamp(context: Any, **_: Any) -> None:
    context["bench_started"] = time.perf_counter()


def _timed(call: Call, context: Any) -> None:
    started = context.get("bench_started")
    if started is not None:
        call.ms = (time.perf_counter() - started) * 1000
    call.thread = threading.get_ident()


def _keep_params(params: Any, context: Any, **_: Any) -> None:
    context["bench_params"] = params  # the caller's own dict: read in after-call, not kept


def summarise(calls: list[Call]) -> dict[str, Any]:
    """Totals of `calls` and the count per service:operation (errors named)."""
    by_operation: dict[str, int] = {}
    for c in calls:
        name = f"{c.service}:{c.operation}" + (f" ({c.error})" if c.error else "")
        by_operation[name] = by_operation.get(name, 0) + c.attempts
    total = {
        name: sum(getattr(c, name) for c in calls)
        for name in ("write_units", "read_units", "estimated_write_units",
                     "estimated_read_units", "consumed_write_units", "consumed_read_units",
                     "sqs_requests", "kinesis_put_units", "s3_put", "s3_get")
    }  # fmt: skip
    total["dynamodb_calls_with_consumed_capacity"] = sum(
        1 for c in calls if c.units_from == "consumed"
    )
    total["dynamodb_calls_estimated"] = sum(1 for c in calls if c.units_from == "estimated")
    by_table: dict[str, float] = {}
    for c in calls:
        if c.write_units:
            by_table[c.table] = by_table.get(c.table, 0.0) + c.write_units
    return {**total, "write_units_by_table": by_table, "calls": by_operation}


class CountingStream(io.TextIOBase):
    """A stdout stand-in that counts the UTF-8 bytes and lines written to it."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0
        self.last_line = ""  # a sample of what is written (the bill reads the EMF line's parts)

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        self.lines += text.count("\n")
        if text.strip():
            self.last_line = text.strip().splitlines()[-1]
        return len(text)

    def take(self) -> tuple[int, int]:
        taken = (self.bytes, self.lines)
        self.bytes = self.lines = 0
        return taken


class LogBytes(logging.Handler):
    """Sizes each record at or above `level` as a line of Lambda's JSON log format (timestamp,
    level, message, logger, requestId, plus the record's extra xRequestId when set)."""

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.bytes = 0
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        line = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": "00000000-0000-0000-0000-000000000000",
        }
        request_id = getattr(record, "xRequestId", None)
        if request_id:
            line["xRequestId"] = request_id
        if record.exc_info:
            line["stackTrace"] = logging.Formatter().formatException(record.exc_info)
        self.bytes += len(json.dumps(line).encode()) + 1
        self.lines += 1

    def take(self) -> tuple[int, int]:
        taken = (self.bytes, self.lines)
        self.bytes = self.lines = 0
        return taken
