"""template.yaml's UsageLedger parameter: DynamoDB (the default) or a Kinesis data stream.

The interface with handler/usage/: the API and replay functions read the stream's name from
USAGE_LEDGER_STREAM ("" keeps the DynamoDB ledger) and may put records on it; the aggregator
is fed by the stream and reads the per-producer watermark items with BatchGetItem. Each
deployment is checked as CloudFormation would create it (deploy_support.deployed): with the
default, nothing of Kinesis exists; with Kinesis, each piece is wired to the one stream.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.bill_floor import HOURS_PER_MONTH
from bench.prices import PRICES
from tests.deploy.deploy_support import (
    CHECKOV_VENV,
    REPO,
    TOOLS_VENV,
    cfn_yaml,
    deployed,
    policy_statements,
    run_tool,
)

STREAM = {"Ref": "UsageLedgerStream"}
STREAM_ARN = {"Fn::GetAtt": ["UsageLedgerStream", "Arn"]}
WRITERS = ("EmbeddingsFunction", "UsageReplayFunction")  # where a request's record goes
WRITER_ROLES = ("EmbeddingsFunctionRole", "UsageReplayFunctionRole")
# What a Kinesis event source mapping reads with (Lambda's guide; AWSLambdaKinesisExecutionRole
# less SubscribeToShard, which only enhanced fan-out uses).
MAPPING_ACTIONS = {
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:ListStreams",
}
LEDGER_RESOURCES = ("UsageLedgerStream", "UsageLedgerMapping")


@pytest.fixture(scope="module")
def declared() -> dict[str, Any]:
    return cfn_yaml(REPO / "template.yaml")


@pytest.fixture(scope="module")
def dynamodb_ledger(declared: dict[str, Any]) -> dict[str, Any]:
    return deployed(declared)


@pytest.fixture(scope="module")
def kinesis_ledger(declared: dict[str, Any]) -> dict[str, Any]:
    return deployed(declared, UsageLedger="Kinesis")


def grants(resources: dict[str, Any], role: str) -> list[tuple[set[str], Any]]:
    """(actions, resource) of each statement `role` grants in this deployment."""
    return [
        ({s["Action"]} if isinstance(s["Action"], str) else set(s["Action"]), s["Resource"])
        for policy in resources[role]["Properties"]["Policies"]
        for s in policy_statements(policy)
    ]


def kinesis_grants(resources: dict[str, Any], role: str) -> list[tuple[set[str], Any]]:
    return [(a, r) for a, r in grants(resources, role) if any(x.startswith("kinesis:") for x in a)]


def variables(resources: dict[str, Any], function: str) -> dict[str, Any]:
    found: dict[str, Any] = resources[function]["Properties"]["Environment"]["Variables"]
    return found


@pytest.mark.unit
def test_the_parameters_default_to_the_dynamodb_ledger(declared: dict[str, Any]) -> None:
    parameters = declared["Parameters"]
    assert parameters["UsageLedger"]["Default"] == "DynamoDB"
    assert parameters["UsageLedger"]["AllowedValues"] == ["DynamoDB", "Kinesis"]
    shards = parameters["UsageLedgerShards"]
    assert (shards["Type"], shards["Default"], shards["MinValue"]) == ("Number", 1, 1)
    retention = parameters["UsageLedgerRetentionHours"]
    # Kinesis's own range starts at 24 h; the brief's ceiling is its 7-day extended retention.
    assert (retention["Default"], retention["MinValue"], retention["MaxValue"]) == (24, 24, 168)
    assert declared["Conditions"]["UseKinesisLedger"] == {
        "Fn::Equals": [{"Ref": "UsageLedger"}, "Kinesis"]
    }


@pytest.mark.unit
def test_the_dynamodb_ledger_deploys_nothing_of_kinesis(dynamodb_ledger: dict[str, Any]) -> None:
    resources = dynamodb_ledger
    for name in LEDGER_RESOURCES:
        assert name not in resources, name
    # Nothing left names the stream (CloudFormation would refuse a Ref to a resource it skips)
    assert "UsageLedgerStream" not in json.dumps(resources)
    for name in WRITERS:
        assert variables(resources, name)["USAGE_LEDGER_STREAM"] == "", name
    for role in (*WRITER_ROLES, "UsageAggregatorFunctionRole", "BatchWorkerFunctionRole"):
        assert kinesis_grants(resources, role) == [], role
    aggregator = {
        a for actions, _ in grants(resources, "UsageAggregatorFunctionRole") for a in actions
    }
    assert "dynamodb:BatchGetItem" not in aggregator  # only the Kinesis counter reads watermarks


@pytest.mark.unit
def test_the_kinesis_ledger_deploys_an_encrypted_provisioned_stream(
    kinesis_ledger: dict[str, Any],
) -> None:
    stream = kinesis_ledger["UsageLedgerStream"]
    assert stream["Type"] == "AWS::Kinesis::Stream"
    assert stream["Properties"] == {
        "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        "ShardCount": {"Ref": "UsageLedgerShards"},
        "RetentionPeriodHours": {"Ref": "UsageLedgerRetentionHours"},
        "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
    }


@pytest.mark.unit
def test_the_kinesis_ledger_feeds_the_aggregator_and_never_drops_a_record(
    kinesis_ledger: dict[str, Any], declared: dict[str, Any]
) -> None:
    mapping = kinesis_ledger["UsageLedgerMapping"]
    assert mapping["Type"] == "AWS::Lambda::EventSourceMapping"
    properties = mapping["Properties"]
    assert properties["EventSourceArn"] == STREAM_ARN
    assert properties["FunctionName"] == {"Ref": "UsageAggregatorFunction"}
    aggregator = kinesis_ledger["UsageAggregatorFunction"]["Properties"]
    assert aggregator["Handler"] == "handler.usage.aggregator_handler.handler"
    assert properties["StartingPosition"] == "TRIM_HORIZON"  # from the first record kept
    assert properties["BatchSize"] == 10000
    # The same window as the table's stream: GET /v1/usage lags by it either way.
    window = aggregator["Events"]["Records"]["Properties"]["MaximumBatchingWindowInSeconds"]
    assert properties["MaximumBatchingWindowInSeconds"] == window
    assert window == {"Ref": "UsageAggregationWindowSeconds"}
    assert properties["ParallelizationFactor"] == 1  # each producer's records in order
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["MaximumRetryAttempts"] == -1
    assert properties["MaximumRecordAgeInSeconds"] == -1
    assert "TumblingWindowInSeconds" not in properties  # a Kinesis eventID names its shard
    # Only a plain resource can carry the condition: a SAM event on the function cannot.
    assert declared["Resources"]["UsageLedgerMapping"]["Condition"] == "UseKinesisLedger"
    assert declared["Resources"]["UsageLedgerStream"]["Condition"] == "UseKinesisLedger"


@pytest.mark.unit
def test_the_writers_get_the_streams_name_and_may_only_put_on_it(
    kinesis_ledger: dict[str, Any],
) -> None:
    for name in WRITERS:
        assert variables(kinesis_ledger, name)["USAGE_LEDGER_STREAM"] == STREAM, name
    for role in WRITER_ROLES:
        assert kinesis_grants(kinesis_ledger, role) == [({"kinesis:PutRecord"}, STREAM_ARN)], role
    # The batch worker keeps the DynamoDB ledger: no stream name, no grant.
    assert "USAGE_LEDGER_STREAM" not in variables(kinesis_ledger, "BatchWorkerFunction")
    assert kinesis_grants(kinesis_ledger, "BatchWorkerFunctionRole") == []


@pytest.mark.unit
def test_the_aggregator_reads_the_stream_and_the_watermarks(
    kinesis_ledger: dict[str, Any], dynamodb_ledger: dict[str, Any]
) -> None:
    role = "UsageAggregatorFunctionRole"
    assert kinesis_grants(kinesis_ledger, role) == [(MAPPING_ACTIONS, STREAM_ARN)]
    table = {"Fn::GetAtt": ["UsageTable", "Arn"]}
    on_table = {
        a for actions, where in grants(kinesis_ledger, role) if where == table for a in actions
    }
    assert on_table == {"dynamodb:UpdateItem", "dynamodb:BatchGetItem"}
    # Everything the DynamoDB ledger's aggregator has, it keeps (the batch worker's records
    # still come by the table's stream).
    for granted in grants(dynamodb_ledger, role):
        assert granted in grants(kinesis_ledger, role), granted


@pytest.mark.unit
def test_one_lag_alarm_watches_both_of_the_aggregators_streams(
    kinesis_ledger: dict[str, Any],
) -> None:
    # Lambda's IteratorAge is per function, reported for every batch either mapping hands it:
    # an alarm on the function alone (no Resource or mapping dimension) sees both streams.
    alarm = kinesis_ledger["UsageAggregatorLagAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/Lambda",
        "IteratorAge",
        "Maximum",
    )
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "UsageAggregatorFunction"}}
    ]
    mappings = [
        r for r in kinesis_ledger.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    assert [m["Properties"]["FunctionName"] for m in mappings] == [
        {"Ref": "UsageAggregatorFunction"}
    ]
    assert kinesis_ledger["UsageAggregatorFunction"]["Properties"]["Events"]["Records"]["Type"] == (
        "DynamoDB"
    )


@pytest.mark.unit
def test_the_ledgers_description_quotes_the_bench_prices(declared: dict[str, Any]) -> None:
    # The trade a user reads in the console: its figures are the bench's price table's.
    description = " ".join(declared["Parameters"]["UsageLedger"]["Description"].split())
    shard_hour = PRICES["kinesis_shard_hour"].each
    expected = {
        round(shard_hour * HOURS_PER_MONTH, 2),  # a shard's month, idle or not
        round(shard_hour, 3),
        round(PRICES["dynamodb_write_unit"].each * 1e6, 3),  # per million requests
        round(PRICES["kinesis_put_unit"].each * 1e6, 3),
    }
    quoted = {float(x) for x in re.findall(r"\$([0-9.]+[0-9])", description)}
    assert quoted == expected
    assert f"{HOURS_PER_MONTH} h" in description


@pytest.mark.integration
def test_checkov_passes_with_the_kinesis_ledger(deploy_tools: Path, tmp_path: Path) -> None:
    # checkov evaluates conditions at the parameters' defaults, so the stream is checked only
    # when Kinesis is the default: a copy of the template where it is.
    text = (REPO / "template.yaml").read_text()
    default = "    Default: DynamoDB\n    AllowedValues: [DynamoDB, Kinesis]\n"
    assert text.count(default) == 1
    copy = tmp_path / "template.yaml"
    copy.write_text(text.replace(default, default.replace("DynamoDB\n", "Kinesis\n", 1)))
    result = run_tool(
        str(CHECKOV_VENV / "bin" / "checkov"), "-f", str(copy), "--framework", "cloudformation",
        "--compact", "--skip-download", "--output", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)["results"]
    checked = {c["resource"] for c in report["passed_checks"]}
    assert "AWS::Kinesis::Stream.UsageLedgerStream" in checked
    assert report["failed_checks"] == []


@pytest.mark.integration
def test_the_sam_transform_keeps_the_ledger_conditional(deploy_tools: Path) -> None:
    # The transform does not evaluate conditions on plain resources, so one translation serves
    # both parameter values: the ledger's resources come out with their condition, and the
    # aggregator keeps its SAM-made DynamoDB mapping whatever the ledger.
    out = run_tool(
        str(TOOLS_VENV / "bin" / "python"), str(REPO / "tests/deploy/translate_template.py"),
        str(REPO / "template.yaml"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    resources: dict[str, Any] = json.loads(out.stdout)["Resources"]
    for name in LEDGER_RESOURCES:
        assert resources[name]["Condition"] == "UseKinesisLedger", name
    mappings = {
        name: r
        for name, r in resources.items()
        if r["Type"] == "AWS::Lambda::EventSourceMapping" and "Condition" not in r
    }
    sources = [m["Properties"]["EventSourceArn"] for m in mappings.values()]
    assert {"Fn::GetAtt": ["UsageTable", "StreamArn"]} in sources
