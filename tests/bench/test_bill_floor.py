"""The billed-time split, the AWS-typical bill and the ledger's floor against hand-computed
cases (bench/waits.py, bench/bill_typical.py, bench/bill_floor.py)."""

from __future__ import annotations

import pytest

from bench import bill, bill_floor, bill_typical, waits
from bench.bill_aggregator import records_per_batch
from bench.meter import Call

pytestmark = pytest.mark.unit

GB_S = 0.0000133334  # Lambda arm64, USD per GB-second (bench/prices.py)


def test_waits_on_the_request_thread_move_to_typical_latencies_and_others_overlap() -> None:
    # GIVEN an invocation of 20 ms: a 12 ms PutItem and a 6 ms transaction on its thread, and
    # a 9 ms S3 call on another thread
    calls = [
        Call("dynamodb", "PutItem", ms=12.0, thread=1),
        Call("dynamodb", "TransactWriteItems", ms=6.0, thread=1),
        Call("s3", "PutObject", ms=9.0, thread=2),
    ]
    split = waits.split(calls, thread=1)
    # THEN each wait is priced at its row (DynamoDB 5 ms, a transaction 10 ms), the other
    # thread's call moves nothing
    assert split["local"] == {"dynamodb": 12.0, "dynamodb_transaction": 6.0}
    assert split["aws_typical"] == {"dynamodb": 5.0, "dynamodb_transaction": 10.0}
    assert split["overlapped"] == {"s3": 9.0}
    assert waits.aws_typical_ms(20.0, split) == pytest.approx(20.0 - 18.0 + 15.0)


def test_a_workloads_bill_at_typical_waits_uses_their_billed_ms() -> None:
    # GIVEN two short requests of 15.2 and 16 ms, 12 of each waiting on DynamoDB Local
    measured = {
        "units": 2, "inputs_per_request": 1, "tokens": 24,
        "invocation_ms": [15.2, 16.0], "invocation_ms_aws_typical": [8.2, 9.0],
        "own_ms": [3.2, 4.0],
        "waits_ms": [{"local": {"dynamodb": 12.0}, "aws_typical": {"dynamodb": 5.0}}] * 2,
        "write_units": 2.0, "request_bytes": [100, 100], "response_bytes": [900, 900],
    }  # fmt: skip
    row = bill.price_row("short", "no_limits", measured, {"active": False, "sampling": 0.0},
                         memory_mb=1024)  # fmt: skip
    # THEN billed 16 ms (both round up to 16) measured, 9 at typical waits (9 and 9)
    assert row["billed_time"]["billed_ms_local"] == 16.0
    assert row["billed_time"]["billed_ms_aws_typical"] == 9.0
    assert row["billed_time"]["waits_ms_local"] == {"dynamodb": 12.0}
    assert row["billed_time"]["own_ms"] == pytest.approx(3.6)  # the median of 3.2 and 4
    # AND the typical bill is the measured one less 7 billed ms at 1 GB
    saved = 7 / 1000 * GB_S * 1e6
    measured_usd = row["usd_per_million_units"]["http_api"]
    typical_usd = row["aws_typical"]["usd_per_million_units"]["http_api"]
    assert measured_usd - typical_usd == pytest.approx(saved, abs=1e-4)


def test_the_floor_is_the_fixed_charges_and_the_ledgers_typical_wait() -> None:
    found = bill_floor.floor(1769)
    wait = 5 / 1000 * 1769 / 1024 * GB_S * 1e6  # 5 ms at 1,769 MB
    assert found["usd_per_million"]["function_url"] == pytest.approx(0.20 + 0.625 + wait, abs=1e-4)
    assert found["usd_per_million"]["http_api"] == pytest.approx(1.825 + wait, abs=1e-4)
    assert found["usd_per_million"]["function_url"] > 0.60  # the URL target is out of reach


def test_kinesis_pays_from_the_volume_its_shard_month_buys() -> None:
    kinesis = bill_floor.designs(1769)[1]
    wait = 10 / 1000 * 1769 / 1024 * GB_S  # its PutRecord, taken at SQS's 10 ms
    ledger = 0.625e-6 + 5 / 1000 * 1769 / 1024 * GB_S
    month = 0.015 * 730
    assert kinesis["fixed_usd_per_month"] == pytest.approx(10.95)
    assert kinesis["break_even_requests_per_month"] == pytest.approx(
        month / (ledger - 0.014e-6 - wait), rel=1e-6
    )
    assert kinesis["usd_per_million"]["function_url"] == pytest.approx(
        (0.20e-6 + 0.014e-6 + wait) * 1e6, abs=1e-4
    )


def test_the_aggregators_batch_is_shared_by_a_windows_records() -> None:
    windows = {w["window_s"]: w["usd_per_million"] for w in bill_floor.aggregator_windows(1e-6)}
    assert windows[60]["0.1"] == pytest.approx(1.0 / 6, abs=1e-4)  # 6 records a batch
    assert windows[10]["0.1"] == pytest.approx(1.0)  # one record: the whole batch
    # a batch never spans the 60 s tumbling window: 120 s gathers what 60 s does
    assert windows[120]["1.0"] == windows[60]["1.0"] == pytest.approx(1.0 / 60, abs=1e-4)
    assert records_per_batch(60, rate=100.0) == 1000  # BatchSize caps a batch


def test_the_emf_directive_is_told_apart_from_the_values() -> None:
    line = {"_aws": {"Timestamp": 1}, "Latency": 2.5}
    # {"_aws":{"Timestamp":1},"Latency":2.5} is 38 bytes; {"Latency":2.5} is 15
    assert bill_floor.emf_directive_bytes(line) == {"line": 38, "directive": 23}


def test_typical_waits_default_to_the_measured_ones() -> None:
    per = {"billed_ms": 10.0, "invocations": 1.0}
    assert bill_typical.billed_time(per)["billed_ms_aws_typical"] == 0.0
    priced = bill_typical.aws_typical(per, 1024, None, None)
    assert priced["usd_per_million_units"]["function_url"] == pytest.approx(
        0.20 + 10 / 1000 * GB_S * 1e6, abs=1e-4
    )


def test_the_floor_with_a_requests_emf_line_adds_its_ingested_bytes() -> None:
    # GIVEN a short query whose EMF line is 99 bytes (+ newline + 26 bytes of event overhead)
    line = {"_aws": {"Timestamp": 1}, "pad": "x" * 66}
    assert bill_floor.emf_directive_bytes(line)["line"] == 99
    short = {
        "workload": "short", "key": "no_limits", "emf_line": line,
        "aws_typical": {"usd_per_million_units": {"http_api": 2.5, "function_url": 1.5}},
    }  # fmt: skip
    found = bill_floor.figures({"rows": [short], "memory_mb": 1769, "usage_aggregator": {}})
    # THEN the floor grows by 126 bytes of ingestion a request, and the query's excess is
    # measured from the floor without it
    logged = 126 / 1024**3 * 0.50 * 1e6
    floor = found["floor"]
    assert floor["with_emf_line_usd_per_million"]["function_url"] == pytest.approx(
        floor["usd_per_million"]["function_url"] + logged, abs=1e-4
    )
    above = found["short_query_above_floor_usd_per_million"]["function_url"]
    assert above == pytest.approx(1.5 - floor["usd_per_million"]["function_url"], abs=1e-4)
