"""The bill's arithmetic against hand-computed cases (bench/billing.py, bench/bill.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from bench import bill, billing
from bench.meter import Meter, make_call
from bench.prices import PRICES

pytestmark = pytest.mark.unit


def string_item(total_bytes: int) -> dict[str, dict[str, str]]:
    """An item of exactly `total_bytes`: the name "pk" (2 bytes) and an ASCII string."""
    return {"pk": {"S": "x" * (total_bytes - 2)}}


def test_a_one_and_a_half_kb_put_is_2_write_units_and_4_in_a_transaction() -> None:
    item = string_item(1536)
    assert billing.item_size(item) == 1536
    assert billing.estimated_units("PutItem", {"Item": item}, {}) == (2.0, 0.0)
    transaction = {"TransactItems": [{"Put": {"Item": item}}]}
    assert billing.estimated_units("TransactWriteItems", transaction, {}) == (4.0, 0.0)


def test_write_units_round_up_per_started_kb_with_a_floor_of_one() -> None:
    assert billing.write_units(1) == 1
    assert billing.write_units(1024) == 1
    assert billing.write_units(1025) == 2
    assert billing.write_units(0, transactional=True) == 2


def test_read_units_per_started_4_kb_halved_when_eventually_consistent() -> None:
    assert billing.read_units(100) == 0.5
    assert billing.read_units(100, consistent=True) == 1.0
    assert billing.read_units(4097, consistent=True) == 2.0
    assert billing.read_units(4097) == 1.0
    assert billing.read_units(100, transactional=True) == 2.0


def test_a_query_sums_its_items_before_rounding() -> None:
    items = [string_item(1500)] * 3  # 4,500 bytes: 2 units of 4 KB, halved
    assert billing.estimated_units("Query", {}, {"Items": items}) == (0.0, 1.0)


def test_item_size_follows_dynamodbs_rules_per_type() -> None:
    # name bytes + value: "é" is 2 UTF-8 bytes; 12345 has 5 significant digits -> 3 + 1
    assert billing.item_size({"a": {"S": "é"}}) == 1 + 2
    assert billing.item_size({"n": {"N": "12345"}}) == 1 + 4
    assert billing.item_size({"n": {"N": "1000"}}) == 1 + 2  # trailing zeros trimmed
    assert billing.item_size({"n": {"N": "0.0012"}}) == 1 + 2  # leading zeros trimmed
    assert billing.item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3
    assert billing.item_size({"t": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    # list: 3 + per element (1 + value); map: 3 + per entry (1 + key + value)
    assert billing.item_size({"l": {"L": [{"S": "ab"}, {"N": "7"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert billing.item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert billing.item_size({"s": {"SS": ["a", "bc"]}}) == 1 + 3


def test_an_update_is_sized_from_its_key_values_and_names() -> None:
    request = {
        "Key": {"pk": {"S": "KEY#k"}, "sk": {"S": "MIN#1"}},  # 2+5 + 2+5
        "UpdateExpression": "ADD #r :one",
        "ExpressionAttributeNames": {"#r": "requests"},  # 8
        "ExpressionAttributeValues": {":one": {"N": "1"}},  # 2
    }
    assert billing.estimated_units("UpdateItem", request, {}) == (1.0, 0.0)
    assert billing._update_size(request) == 14 + 8 + 2


def test_consumed_capacity_wins_when_dynamodb_reports_it() -> None:
    response = {"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 6.0}]}
    call = make_call("dynamodb", "TransactWriteItems", {"TransactItems": []}, response)
    assert (call.write_units, call.units_from) == (6.0, "consumed")
    failed = make_call(
        "dynamodb", "PutItem", {"Item": string_item(1536)}, {}, "ConditionalCheckFailedException"
    )
    assert (failed.write_units, failed.units_from) == (2.0, "estimated")


def test_sqs_bills_per_started_64_kb_and_s3_by_request_class() -> None:
    assert billing.sqs_requests(0) == 1
    assert billing.sqs_requests(64 * 1024) == 1
    assert billing.sqs_requests(64 * 1024 + 1) == 2
    send = make_call("sqs", "SendMessage", {"MessageBody": "x" * 70_000}, {})
    assert send.sqs_requests == 2
    retried = make_call("sqs", "DeleteMessage", {}, {"ResponseMetadata": {"RetryAttempts": 2}})
    assert retried.sqs_requests == 3
    assert make_call("s3", "UploadPartCopy", {}, {}).s3_put == 1
    assert make_call("s3", "GetObject", {}, {}).s3_get == 1
    deleted = make_call("s3", "DeleteObject", {}, {})
    assert (deleted.s3_put, deleted.s3_get) == (0, 0)


def test_lambda_bills_whole_milliseconds_and_http_api_512_kb_steps() -> None:
    assert billing.billed_ms(0.2) == 1
    assert billing.billed_ms(12.0) == 12
    assert billing.billed_ms(12.01) == 13
    assert billing.http_api_requests(100, 512 * 1024) == 1
    assert billing.http_api_requests(100, 512 * 1024 + 1) == 2


def test_price_adds_each_part_at_the_table_price() -> None:
    count = {
        "invocations": 1, "billed_ms": 10, "write_units": 4, "read_units": 0.5,
        "sqs_requests": 0, "s3_put": 0, "s3_get": 0, "api_requests": 1,
        "http_api_requests": 1, "log_bytes": 1024**3 / 1e6, "traces": 0.05,
    }  # fmt: skip
    parts = billing.price(count, memory_mb=2048, front_door="http_api")
    million = {k: v * 1e6 for k, v in parts.items()}
    assert million["lambda_requests"] == pytest.approx(0.20)
    assert million["lambda_duration"] == pytest.approx(0.010 * 2 * 0.0000133334 * 1e6)
    assert million["dynamodb_writes"] == pytest.approx(4 * 0.625)
    assert million["dynamodb_reads"] == pytest.approx(0.5 * 0.125)
    assert million["front_door"] == pytest.approx(1.00)
    assert million["logs"] == pytest.approx(0.50)  # 1 GB per million requests
    assert million["xray"] == pytest.approx(0.05 * 5.00)
    url = billing.price(count, memory_mb=2048, front_door="function_url")
    rest = billing.price(count, memory_mb=2048, front_door="rest_api")
    assert url["front_door"] == 0.0
    assert rest["front_door"] * 1e6 == pytest.approx(3.50)
    shares = billing.shares(parts)
    assert sum(shares.values()) == pytest.approx(100, abs=0.5)


def test_every_price_names_its_source() -> None:
    for name, p in PRICES.items():
        assert p.source.startswith("https://"), name
        assert p.per > 0 and p.usd >= 0, name


def test_tracing_comes_from_the_template(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("Resources:\n  Fn:\n    Properties:\n      Tracing: Active\n")
    assert bill.tracing_of(template)["sampling"] == bill.XRAY_DEFAULT_SAMPLING
    template.write_text("Resources:\n  Fn:\n    Properties:\n      MemorySize: 1\n")
    assert bill.tracing_of(template) == {
        "active": False,
        "sampling": 0.0,
        "source": "template.yaml: no Tracing: Active",
    }
    assert bill.platform_bytes(True) > bill.platform_bytes(False) > 0


@pytest.mark.parametrize(("default", "sampling"), [("Active", 0.05), ("PassThrough", 0.0)])
def test_tracing_follows_the_parameter_the_functions_reference(
    tmp_path: Path, default: str, sampling: float
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Parameters:\n  Tracing:\n    Type: String\n"
        f"    Default: {default}\n    AllowedValues: [PassThrough, Active]\n"
        "Resources:\n  Fn:\n    Properties:\n      Tracing: !Ref Tracing\n"
    )
    found = bill.tracing_of(template)
    assert found["active"] is (default == "Active")
    assert found["sampling"] == sampling
    assert f"Tracing={default}" in found["source"]


def test_the_shipped_template_traces_as_its_parameter_says() -> None:
    # GIVEN the repository's template WHEN the bill reads it THEN its default (PassThrough)
    assert bill.tracing_of() == {
        "active": False,
        "sampling": 0.0,
        "source": "template.yaml parameter Tracing=PassThrough",
    }


def test_a_workload_is_priced_per_unit_from_its_counts() -> None:
    measured = {
        "units": 2, "inputs_per_request": 1, "tokens": 24,
        "invocation_ms": [9.2, 10.0], "write_units": 8.0, "read_units": 0.0,
        "stdout_bytes": 1600, "stdout_lines": 2, "log_bytes": 0, "log_lines": 0,
        "request_bytes": [100, 100], "response_bytes": [9000, 9000],
        "calls": {"dynamodb:TransactWriteItems": 2},
    }  # fmt: skip
    tracing = {"active": True, "sampling": 0.05}
    row = bill.price_row("short", "no_limits", measured, tracing, memory_mb=2048)
    # the API function's platform lines follow template.yaml's PlatformLogLevel
    platform = bill.platform_bytes(True) if bill.api_platform_logged() else 0
    per_request_log = 800 + bill.LOG_EVENT_OVERHEAD_BYTES + platform
    expected = (
        0.20 + 10 / 1000 * 2 * 0.0000133334 * 1e6 + 4 * 0.625 + 1.00
        + per_request_log / 1024**3 * 0.50 * 1e6 + 0.05 * 5.00
    )  # fmt: skip
    assert row["write_units_per_unit"] == 4.0
    assert row["billed_ms_per_unit"] == 10.0  # 10 and 10 ms billed
    assert row["usd_per_million_units"]["http_api"] == pytest.approx(expected, abs=1e-3)
    assert row["usd_per_million_tokens"]["http_api"] == pytest.approx(expected / 12, abs=1e-3)
    assert row["openai_usd_per_million_units"] == pytest.approx(12 * 0.02)
    assert row["calls_per_unit"] == {"dynamodb:TransactWriteItems": 1.0}


def test_issue_19_targets_read_the_bill_rows_at_aws_typical_waits() -> None:
    from bench import report

    # GIVEN rows whose measured figures (DynamoDB Local's waits) miss where the AWS-typical
    # ones meet, and the reverse
    rows = [
        {"workload": "short", "key": "no_limits", "write_units_per_unit": 1.0,
         "usd_per_million_units": {"http_api": 2.1, "function_url": 0.5},
         "aws_typical": {"usd_per_million_units": {"http_api": 1.9, "function_url": 0.7},
                         "usd_per_million_tokens": {"http_api": 0.15}}},
        {"workload": "short", "key": "limits", "write_units_per_unit": 3.0,
         "usd_per_million_units": {"http_api": 2.5, "function_url": 1.5},
         "aws_typical": {"usd_per_million_units": {"http_api": 2.5, "function_url": 1.5}}},
    ]  # fmt: skip
    floor = {"floor": {"usd_per_million": {"function_url": 0.94, "http_api": 1.94}}}
    results = {"bill": {"rows": rows, "big_inputs": 2048, "floor": floor}}
    found = {t["target"]: t for t in report.targets(results)}
    typical = " (AWS-typical waits)"
    assert (
        found[f"#19 one short query, HTTP API, all-in, USD per 1M requests{typical}"]["met"] is True
    )
    url = found[f"#19 one short query, Function URL, all-in, USD per 1M requests{typical}"]
    assert (url["measured"], url["met"]) == (0.7, False)
    floor_row = next(t for name, t in found.items() if name.startswith("#19 floor"))
    assert (floor_row["measured"], floor_row["met"]) == (0.94, False)
    assert found["#19 DynamoDB write units per query, no limits"]["met"] is True
    assert found["#19 DynamoDB write units per query, RPM/TPM + monthly"]["met"] is False
    assert found[f"#19 2048 inputs per request, all-in, USD per 1M tokens{typical}"]["met"] is None


def _metered_dynamodb_client() -> tuple[Meter, Any]:
    """A Meter, and a DynamoDB client built while it was installed (so it is watched)."""
    import botocore.session

    meter = Meter()
    meter.install()
    try:
        client = botocore.session.get_session().create_client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
    finally:
        meter.uninstall()
    return meter, client


def test_the_meter_counts_a_call_of_any_client_built_after_install() -> None:
    from botocore.stub import Stubber

    # GIVEN a client built the way the usage service builds its own
    meter, client = _metered_dynamodb_client()
    item = string_item(1536)
    with Stubber(client) as stub:
        stub.add_response("put_item", {"ConsumedCapacity": {"CapacityUnits": 2.0}})
        stub.add_client_error("put_item", "ConditionalCheckFailedException")
        # WHEN it writes, once and once refused by a condition
        client.put_item(TableName="t", Item=item)
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(TableName="t", Item=item)
    # THEN both calls are counted: DynamoDB's figure, then the estimate (still billed)
    first, refused = meter.take()
    assert (first.operation, first.write_units, first.units_from) == ("PutItem", 2.0, "consumed")
    assert (refused.error, refused.write_units) == ("ConditionalCheckFailedException", 2.0)
    assert refused.units_from == "estimated"
    assert meter.take() == []


def test_the_meter_times_each_call_on_the_thread_that_made_it() -> None:
    import time

    from botocore.awsrequest import AWSResponse

    meter, client = _metered_dynamodb_client()

    def answer_slowly(request: object, **_: object) -> AWSResponse:
        time.sleep(0.02)  # GIVEN a DynamoDB that takes 20 ms to answer
        return AWSResponse("https://dynamodb", 200, {}, _Raw(b"{}"))

    client.meta.events.register("before-send.dynamodb", answer_slowly)
    # WHEN a PutItem is made on this thread
    client.put_item(TableName="t", Item=string_item(10))
    # THEN its wait is timed (the bill's waits, bench/waits.py) and its thread named
    (call,) = meter.take()
    assert call.ms >= 20
    assert call.thread == threading.get_ident()


class _Raw:
    """The raw body botocore's AWSResponse reads."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object) -> object:
        yield self.body


def test_platform_lines_follow_the_templates_platform_log_level(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    head = "Parameters:\n  PlatformLogLevel:\n    Type: String\n    Default: "
    template.write_text(head + "WARN\n    AllowedValues: [WARN, INFO]\n")
    assert bill.api_platform_logged(template) is False
    template.write_text(head + "INFO\n")
    assert bill.api_platform_logged(template) is True
    template.write_text("Parameters: {}\n")  # no such parameter: SystemLogLevel INFO
    assert bill.api_platform_logged(template) is True


def test_a_cold_start_bills_its_init_in_1_ms_steps_at_the_memory() -> None:
    # 0.6004 s at 2,048 MB: 601 ms x 2 GB = 1.202 GB-s at $0.0000133334
    assert billing.init_usd(0.6004, 2048) == pytest.approx(1.202 * 0.0000133334)
    assert billing.init_usd(0.0001, 1024) == pytest.approx(0.001 * 0.0000133334)


def test_snapstart_restore_and_cache_per_gb() -> None:
    prices = billing.snapstart_usd(2048)
    assert prices["restore"] == pytest.approx(2 * 0.0001397998)
    # 730 h x 3,600 s x 2 GB x $0.0000015046
    assert prices["cache_month"] == pytest.approx(730 * 3600 * 2 * 0.0000015046)


def test_provisioned_break_even_for_one_write_unit_a_request() -> None:
    figures = billing.provisioned_break_even(write_units=1)
    wcu_second = 0.00065 / 3600  # $1.806e-7: one write a second for a second
    assert figures["on_demand_usd_per_million"] == pytest.approx(0.625)
    assert figures["provisioned_usd_per_million_fully_used"] == pytest.approx(wcu_second * 1e6)
    # the smallest table (1 WCU) costs what on-demand does at 0.289 writes a second
    assert figures["min_requests_per_second"] == pytest.approx(wcu_second / 0.625e-6)
    assert figures["min_requests_per_second"] == pytest.approx(0.2889, abs=1e-4)
    assert figures["max_peak_to_mean"] == pytest.approx(0.625e-6 / wcu_second)
    assert figures["saving_at_peak_to_mean_1_43"] == pytest.approx(1 - wcu_second / 0.7 / 0.625e-6)


def test_provisioned_break_even_counts_reads_and_the_smallest_rcu() -> None:
    figures = billing.provisioned_break_even(write_units=2, read_units=0.5)
    on_demand = 2 * 0.625e-6 + 0.5 * 0.125e-6
    assert figures["on_demand_usd_per_million"] == pytest.approx(on_demand * 1e6)
    smallest = (0.00065 + 0.00013) / 3600
    assert figures["min_requests_per_second"] == pytest.approx(smallest / on_demand)


def test_the_aggregators_batch_is_shared_by_its_records() -> None:
    # GIVEN two counted aggregator batches (9 and 10 billed ms, one write unit each), untraced
    measured = {"invocation_ms": [8.2, 9.1], "write_units": 2.0, "units": 20}
    tracing = {"active": False, "sampling": 0.0}
    # WHEN priced at a 10 s window (one key at 1 request/s: 10 records a batch)
    price = bill.aggregator_price(measured, tracing, window_s=10)
    # THEN one batch is a request fee, 9.5 ms (their median) at 256 MB, a write unit and
    # Lambda's platform lines, and each of its 10 records pays a tenth
    batch = (
        0.20e-6
        + 9.5 / 1000 * 0.25 * 0.0000133334
        + 0.625e-6
        + bill.platform_bytes(False) / 1024**3 * 0.50
    )
    assert price["worst_case_usd_per_record"] == pytest.approx(batch)
    assert price["usd_per_record"] == pytest.approx(batch / 10)
    assert price["write_units_per_record"] == pytest.approx(0.1)
    # AND a 60 s window shares the same batch among 60 records; no window, among one
    assert bill.aggregator_price(measured, tracing, 60)["usd_per_record"] == pytest.approx(
        batch / 60
    )
    assert bill.aggregator_price(measured, tracing, 0)["usd_per_record"] == pytest.approx(batch)


def test_the_ledgers_write_units_are_told_apart_from_the_batch_tables() -> None:
    from bench.meter import summarise

    # GIVEN a batch line's calls: shard bookkeeping on the batch table, one ledger record
    put = {"TableName": "usage", "Item": string_item(1536)}
    finish = {"TransactItems": [{"Update": {"TableName": "batches", "Key": string_item(100)}}]}
    calls = [
        make_call("dynamodb", "PutItem", put, {}),
        make_call("dynamodb", "TransactWriteItems", finish, {}),
    ]
    counted = summarise(calls)
    # THEN the write units are split by table, and the row prices the ledger's per line
    assert counted["write_units_by_table"] == {"usage": 2.0, "batches": 2.0}
    assert bill.ledger_units([counted, counted], "usage") == 4.0
    assert bill.ledger_units([counted], "elsewhere") == 0.0


def test_kinesis_bills_a_put_payload_unit_per_started_25_kb_of_each_record() -> None:
    put = make_call("kinesis", "PutRecord", {"Data": b"x" * 400, "PartitionKey": "p" * 16}, {})
    assert put.kinesis_put_units == 1
    big = {"Data": b"x" * (25 * 1024 - 15), "PartitionKey": "p" * 16}  # 1 byte over 25 KB
    assert make_call("kinesis", "PutRecord", big, {}).kinesis_put_units == 2
    records = {"Records": [{"Data": b"x" * 1024, "PartitionKey": "a"}, big]}
    assert make_call("kinesis", "PutRecords", records, {}).kinesis_put_units == 3
    retried = make_call(
        "kinesis", "PutRecord", {"Data": b"x", "PartitionKey": "p"},
        {"ResponseMetadata": {"RetryAttempts": 1}},
    )  # fmt: skip
    assert retried.kinesis_put_units == 2  # a retried put is billed again
    assert make_call("kinesis", "GetRecords", {}, {}).kinesis_put_units == 0
    parts = billing.price({"kinesis_put_units": 1e6}, memory_mb=1769, front_door="function_url")
    assert parts["kinesis"] == pytest.approx(0.014)


def test_the_kinesis_ledger_spreads_its_shard_hours_over_a_months_requests() -> None:
    from bench import bill_kinesis

    assert bill_kinesis.shard_month_usd() == pytest.approx(730 * 0.015)  # $10.95
    assert bill_kinesis.shards_for(100_000_000) == 1  # ~38 requests/s
    assert bill_kinesis.shards_for(3_000_000_000) == 2  # ~1,142 requests/s

    # GIVEN a short query at $1.20 per 1M behind a Function URL on the DynamoDB ledger and
    # $0.70 on Kinesis (before its shard), behind the HTTP API $1 more on both
    def row(key: str, url: float) -> dict[str, Any]:
        usd = {"http_api": url + 1.0, "rest_api": url + 3.5, "function_url": url}
        return {
            "workload": "short",
            "key": key,
            "aws_typical": {"usd_per_million_units": usd},
            "calls_per_unit": {"kinesis:PutRecord": 1.0},
            "write_units_per_unit": 0.0,
        }

    found = bill_kinesis.summary([row("no_limits", 1.20), row("kinesis_ledger", 0.70)], 1769)
    assert found is not None
    # THEN the shard pays off above 10.95 / 0.50 per 1M = 21.9M requests a month
    assert found["break_even_requests_per_month"] == 21_900_000
    at_100m = found["at_requests_per_month"]["100000000"]
    assert at_100m["shard_usd_per_million"] == pytest.approx(0.1095)
    assert at_100m["usd_per_million_units"]["function_url"] == pytest.approx(0.8095)
    # 10 ms more at 1,769 MB: 0.01 s x 1.7275 GB x $0.0000133334 per GB-s, per 1M
    assert found["usd_per_million_if_put_10_ms_slower"] == pytest.approx(0.2303, abs=1e-4)
