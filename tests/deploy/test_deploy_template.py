"""template.yaml: the validators CI runs, and the contracts it shares with handler/.

The validators run offline: `sam validate --lint`, cfn-lint, and checkov (with
--skip-download; every skipped check carries its reason beside it in the template). The
contracts: the environment the function gets is what handler/settings.py reads, the IAM
actions are exactly those handler/usage/store.py documents (usage) and those the batch code
calls (Batch API), and the tables have the layout handler/usage/store.create_tables and
handler/batch/table.create_table give them locally.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from handler.batch import table as batch_table
from handler.usage import store
from tests.deploy.deploy_support import (
    CHECKOV_VENV,
    REPO,
    TOOLS_VENV,
    cfn_yaml,
    policy_statements,
    run_tool,
)
from tools.dynamodb_local import LOCAL_ENV

SETTINGS_SOURCE = REPO / "handler" / "settings.py"


@pytest.fixture(scope="module")
def declared() -> dict[str, Any]:
    return cfn_yaml(REPO / "template.yaml")


@pytest.mark.integration
def test_sam_validate_lint(deploy_tools: Path) -> None:
    result = run_tool(str(TOOLS_VENV / "bin" / "sam"), "validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


@pytest.mark.integration
def test_cfn_lint(deploy_tools: Path) -> None:
    result = run_tool(str(TOOLS_VENV / "bin" / "cfn-lint"), "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_checkov_clean_and_every_skip_justified(
    deploy_tools: Path, template: dict[str, Any]
) -> None:
    result = run_tool(
        str(CHECKOV_VENV / "bin" / "checkov"), "-f", "template.yaml",
        "--framework", "cloudformation", "--compact", "--quiet", "--skip-download",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"Failed checks: 0\b", result.stdout), result.stdout[-2000:]
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "").strip()) > 20, f"{name}: {skip['id']} unexplained"


def function(template: dict[str, Any], name: str) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][name]["Properties"]
    return props


@pytest.mark.integration
def test_every_environment_variable_is_read_by_settings(template: dict[str, Any]) -> None:
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', SETTINGS_SOURCE.read_text()))
    for name in (
        "EmbeddingsFunction",
        "UsageReplayFunction",
        "BatchWorkerFunction",
        "UsageAggregatorFunction",
    ):
        variables = function(template, name)["Environment"]["Variables"]
        unread = set(variables) - read
        assert not unread, f"{name} sets {sorted(unread)}, which handler/settings.py never reads"


def documented_actions(section_start: str, section_end: str) -> set[str]:
    """The dynamodb:/sqs: actions store.py's docstring lists between two headings."""
    doc = store.__doc__ or ""
    start = doc.index(section_start)
    section = doc[start : doc.index(section_end, start)]
    return set(re.findall(r"\b(?:dynamodb|sqs):[A-Za-z]+", section))


def granted_actions(
    template: dict[str, Any], role: str, policies: tuple[str, ...] | None = None
) -> set[str]:
    """The dynamodb:/sqs: actions `role` grants (in the named `policies` only, if given), in
    any deployment: a conditional statement's (UsageLedger=Kinesis) count too."""
    actions: set[str] = set()
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        if policies is not None and policy["PolicyName"] not in policies:
            continue
        for statement in policy_statements(policy):
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return {a for a in actions if a.startswith(("dynamodb:", "sqs:"))}


@pytest.mark.integration
def test_function_role_grants_exactly_the_documented_actions(template: dict[str, Any]) -> None:
    expected = documented_actions("the embeddings FUNCTION calls", "The optional queue-drain")
    usage_policies = ("logs", "tracing", "keys-and-usage")
    assert granted_actions(template, "EmbeddingsFunctionRole", usage_policies) == expected
    named = {p["PolicyName"] for p in function(template, "EmbeddingsFunctionRole")["Policies"]}
    assert named == {*usage_policies, "batch-api"}


@pytest.mark.unit
def test_the_worker_writes_usage_as_the_api_function_does(declared: dict[str, Any]) -> None:
    # The ledger's exactly-once write (Put + Update in a transaction) and its fallback queue,
    # plus what batch lines need: the owner key read (revoked?) and the monthly budget's
    # admission items (read, deleted by a refund, listed by Query when a stopped shard gives
    # its dead runs' admissions back). No per-minute counters.
    documented = documented_actions("The BATCH WORKER's usage calls", "Keys table:")
    granted = granted_actions(declared, "BatchWorkerFunctionRole", ("usage",))
    assert granted == {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "sqs:SendMessage",
    }
    assert granted == documented


@pytest.mark.integration
def test_replay_role_grants_exactly_the_documented_actions(template: dict[str, Any]) -> None:
    expected = documented_actions("The optional queue-drain", "The operator CLI")
    assert granted_actions(template, "UsageReplayFunctionRole") == expected


@pytest.mark.unit
def test_aggregator_role_grants_exactly_the_documented_actions(declared: dict[str, Any]) -> None:
    expected = documented_actions("The usage AGGREGATOR", "The BATCH WORKER's")
    assert granted_actions(declared, "UsageAggregatorFunctionRole") == expected


@pytest.mark.unit
def test_every_usage_writer_uses_stream_aggregation(declared: dict[str, Any]) -> None:
    template = declared
    # One writer left inline would be counted once anyway (its items say so), but it would
    # pay 4 write units a record: every function that writes usage goes by the stream.
    for name in ("EmbeddingsFunction", "UsageReplayFunction", "BatchWorkerFunction"):
        variables = function(template, name)["Environment"]["Variables"]
        assert variables["USAGE_AGGREGATION"] == "stream", name
    table = template["Resources"]["UsageTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    mapping = function(template, "UsageAggregatorFunction")["Events"]["Records"]["Properties"]
    assert mapping["TumblingWindowInSeconds"] > 0  # the event names its shard only then
    assert mapping["ParallelizationFactor"] == 1 and mapping["MaximumRetryAttempts"] == -1


@pytest.mark.integration
def test_tables_match_the_layout_the_code_creates(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in LOCAL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        client = store.make_client("dynamodb", store.client_config(1, 1, 1))
        store.create_tables(client, "keys", "usage")
        batch_table.create_table(client, "batches")
        for logical, table in (
            ("KeysTable", "keys"),
            ("UsageTable", "usage"),
            ("BatchTable", "batches"),
        ):
            declared = template["Resources"][logical]["Properties"]
            actual = client.describe_table(TableName=table)["Table"]
            assert sorted(declared["KeySchema"], key=str) == sorted(actual["KeySchema"], key=str)
            assert sorted(declared["AttributeDefinitions"], key=str) == sorted(
                actual["AttributeDefinitions"], key=str
            )
            ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
            declared_ttl = declared.get("TimeToLiveSpecification", {})
            assert declared_ttl.get("AttributeName") == ttl.get("AttributeName"), logical
            declared_indexes = {
                i["IndexName"]: (sorted(i["KeySchema"], key=str), i["Projection"])
                for i in declared.get("GlobalSecondaryIndexes", [])
            }
            actual_indexes = {
                i["IndexName"]: (sorted(i["KeySchema"], key=str), i["Projection"])
                for i in actual.get("GlobalSecondaryIndexes", [])
            }
            assert declared_indexes == actual_indexes, logical
            assert declared["BillingMode"] == "PAY_PER_REQUEST"
            assert declared["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
            assert declared["SSESpecification"]["SSEEnabled"]


@pytest.fixture(scope="module")
def transformed(deploy_tools: Path) -> dict[str, Any]:
    """template.yaml after the SAM transform (what CloudFormation will create)."""
    out = subprocess.run(
        [str(TOOLS_VENV / "bin" / "python"), str(REPO / "tests/deploy/translate_template.py"),
         str(REPO / "template.yaml")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    resources: dict[str, Any] = json.loads(out.stdout)["Resources"]
    return resources


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    found = {name: r for name, r in resources.items() if r["Type"] == kind}
    assert len(found) == 1, (kind, sorted(found))
    resource: dict[str, Any] = next(iter(found.values()))
    return resource


@pytest.mark.integration
def test_every_request_goes_to_the_live_alias_with_payload_v2(transformed: dict[str, Any]) -> None:
    api = of_type(transformed, "AWS::ApiGatewayV2::Api")
    route = api["Properties"]["Body"]["paths"]["$default"]["x-amazon-apigateway-any-method"]
    integration = route["x-amazon-apigateway-integration"]
    assert integration["payloadFormatVersion"] == "2.0"
    # SnapStart and provisioned concurrency act on published versions: the alias, not $LATEST
    assert "${EmbeddingsFunctionAliaslive}" in integration["uri"]["Fn::Sub"]
    stage = of_type(transformed, "AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
    }


@pytest.mark.integration
def test_the_front_door_is_the_http_api_or_the_function_url(
    transformed: dict[str, Any], template: dict[str, Any]
) -> None:
    conditions = {name: r.get("Condition") for name, r in transformed.items()}
    for name in ("HttpApi", "HttpApiInvokePermission", "ApiAccessLogGroup", "Api5xxAlarm"):
        assert conditions[name] == "UseHttpApi", name
    stage = next(n for n, r in transformed.items() if r["Type"] == "AWS::ApiGatewayV2::Stage")
    assert conditions[stage] == "UseHttpApi"
    # Nothing else may name the HTTP API, or a FunctionUrl stack would not deploy; the
    # dashboard does, inside an Fn::If on the same condition (tests/ops checks both bodies).
    naming = {
        name
        for name, r in transformed.items()
        if r.get("Condition") != "UseHttpApi"
        and ('{"Ref": "HttpApi"}' in json.dumps(r) or "${HttpApi}" in json.dumps(r))
    }
    assert naming == {"OperationsDashboard"}
    function = template["Resources"]["EmbeddingsFunction"]["Properties"]
    assert "Events" not in function  # a SAM event's permission could not carry the condition

    url = transformed["FunctionUrl"]
    assert url["Condition"] == "UseFunctionUrl"
    assert url["Properties"]["TargetFunctionArn"] == {"Ref": "EmbeddingsFunctionAliaslive"}
    assert url["Properties"]["AuthType"] == {"Ref": "FunctionUrlAuthType"}
    public = {
        r["Properties"]["Action"]: r["Properties"]
        for r in transformed.values()
        if r.get("Condition") == "UsePublicFunctionUrl"
    }
    assert public["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert public["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True  # only via the URL
    assert all(p["FunctionName"] == {"Ref": "EmbeddingsFunctionAliaslive"} for p in public.values())
    assert transformed["FunctionUrl5xxAlarm"]["Condition"] == "UseFunctionUrl"
    assert template["Rules"]["HttpApiTimeoutIsAtMost30Seconds"]["RuleCondition"] == {
        "Fn::Equals": [{"Ref": "FrontDoor"}, "HttpApi"]
    }
    reserved = transformed["EmbeddingsFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved["Fn::If"][0] == "HasReservedConcurrency"
    logging_config = transformed["EmbeddingsFunction"]["Properties"]["LoggingConfig"]
    assert logging_config["SystemLogLevel"] == {"Ref": "PlatformLogLevel"}
    assert template["Parameters"]["PlatformLogLevel"]["Default"] == "WARN"
    assert template["Parameters"]["FrontDoor"]["Default"] == "HttpApi"  # the design's default
    outputs = template["Outputs"]
    for name in ("ApiUrl", "OpenAIBaseUrl"):
        assert outputs[name]["Value"]["Fn::If"][0] == "UseHttpApi", name


@pytest.mark.integration
def test_snapstart_and_provisioned_concurrency_exclude_each_other(
    transformed: dict[str, Any], template: dict[str, Any]
) -> None:
    function = transformed["EmbeddingsFunction"]["Properties"]
    alias = of_type(transformed, "AWS::Lambda::Alias")["Properties"]
    assert function["SnapStart"]["Fn::If"][0] == "UseSnapStart"
    assert alias["ProvisionedConcurrencyConfig"]["Fn::If"][0] == "UseProvisionedConcurrency"
    conditions = template["Conditions"]
    assert {"Fn::Not": [{"Condition": "UseSnapStart"}]} in conditions["UseProvisionedConcurrency"][
        "Fn::And"
    ]
    rule = template["Rules"]["SnapStartExcludesProvisionedConcurrency"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]}


# The IAM actions each boto3 call the Batch API makes needs. A call not listed here fails the
# test below: map it, and grant it in template.yaml.
BATCH_CALL_ACTIONS: dict[str, set[str]] = {
    # boto3's managed upload: PutObject, or Create/UploadPart/Complete (all s3:PutObject),
    # and AbortMultipartUpload when a part fails
    "s3.upload_fileobj": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "s3.head_object": {"s3:GetObject"},
    "s3.get_object": {"s3:GetObject"},
    "s3.put_object": {"s3:PutObject"},
    "s3.create_multipart_upload": {"s3:PutObject"},
    "s3.upload_part": {"s3:PutObject"},
    # finalizing copies large shard outputs (batches/*) into a result file (files/*)
    "s3.upload_part_copy": {"s3:GetObject", "s3:PutObject"},
    "s3.complete_multipart_upload": {"s3:PutObject"},
    "s3.abort_multipart_upload": {"s3:AbortMultipartUpload"},
    "s3.delete_object": {"s3:DeleteObject"},
    "s3.delete_objects": {"s3:DeleteObject"},  # IAM checks each key's DeleteObject
    "s3.generate_presigned_url": {"s3:GetObject"},  # the URL carries the role's GetObject
    "dynamodb.get_item": {"dynamodb:GetItem"},
    "dynamodb.put_item": {"dynamodb:PutItem"},
    "dynamodb.update_item": {"dynamodb:UpdateItem"},
    "dynamodb.delete_item": {"dynamodb:DeleteItem"},
    "dynamodb.query": {"dynamodb:Query"},
    # finish_shard's transaction holds two Updates: IAM checks those, there is no
    # TransactWriteItems action
    "dynamodb.transact_write_items": {"dynamodb:UpdateItem"},
    "sqs.send_message": {"sqs:SendMessage"},
    # the local poller's (service.poll_once); on AWS the event source mapping makes them,
    # plus GetQueueAttributes, with the worker's role
    "sqs.receive_message": {"sqs:ReceiveMessage"},
    "sqs.delete_message": {"sqs:DeleteMessage"},
}
BATCH_SOURCES = [
    *sorted((REPO / "handler" / "batch").glob("*.py")),
    REPO / "handler" / "routes" / "files.py",
    REPO / "handler" / "routes" / "batches.py",
    REPO / "handler" / "routes" / "uploads.py",
]
BOTO_CALL = re.compile(r"\b(s3|dynamodb|sqs)\.([a-z_]+)\(")
LOCAL_ONLY = {"dynamodb.create_table"}  # handler/batch/table.py: template.yaml declares it


def batch_grants(template: dict[str, Any], role: str, policy: str) -> dict[str, set[str]]:
    """Statement Sid -> the actions it grants, in `role`'s policy `policy`."""
    for found in template["Resources"][role]["Properties"]["Policies"]:
        if found["PolicyName"] == policy:
            return {
                s["Sid"]: set([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
                for s in found["PolicyDocument"]["Statement"]
            }
    raise AssertionError(f"{role} has no policy {policy}")


@pytest.mark.unit
def test_batch_roles_grant_exactly_what_the_batch_code_calls(declared: dict[str, Any]) -> None:
    template = declared
    calls = {
        f"{service}.{method}"
        for path in BATCH_SOURCES
        for service, method in BOTO_CALL.findall(path.read_text())
    } - LOCAL_ONLY
    unmapped = calls - BATCH_CALL_ACTIONS.keys()
    assert not unmapped, f"map {sorted(unmapped)} to IAM actions (and grant them)"
    needed = set().union(*(BATCH_CALL_ACTIONS[call] for call in calls))
    api = batch_grants(template, "EmbeddingsFunctionRole", "batch-api")
    worker = batch_grants(template, "BatchWorkerFunctionRole", "batch-worker")
    for grants in (api, worker):
        assert grants.pop("MissingIsNotFound") == {"s3:ListBucket"}  # see the test below
    uploads = api.pop("Uploads")  # for /v1/uploads (handler/routes/uploads.py), on uploads/*
    # parts are objects (a put each), read back and deleted on completion or cancel
    assert {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"} <= uploads
    granted = set().union(*api.values(), *worker.values())
    # The event source mapping also reads the queue's attributes.
    assert granted == needed | {"sqs:GetQueueAttributes"}


@pytest.mark.unit
def test_batch_grants_are_scoped_to_their_prefixes_and_roles(declared: dict[str, Any]) -> None:
    resources = declared["Resources"]

    def statements(role: str, policy: str) -> dict[str, dict[str, Any]]:
        for found in resources[role]["Properties"]["Policies"]:
            if found["PolicyName"] == policy:
                return {s["Sid"]: s for s in found["PolicyDocument"]["Statement"]}
        raise AssertionError(policy)

    api = statements("EmbeddingsFunctionRole", "batch-api")
    worker = statements("BatchWorkerFunctionRole", "batch-worker")
    prefix = {"Fn::Sub": "${BatchBucket.Arn}/files/*"}
    assert api["Files"]["Resource"] == worker["ReadInputsWriteResults"]["Resource"] == prefix
    assert api["Uploads"]["Resource"] == {"Fn::Sub": "${BatchBucket.Arn}/uploads/*"}
    assert worker["ShardOutputs"]["Resource"] == {"Fn::Sub": "${BatchBucket.Arn}/batches/*"}
    # The API never touches shard objects; the worker never deletes anything.
    api_s3 = [s for s in api.values() if any(a.startswith("s3:") for a in s["Action"])]
    assert all("batches/" not in str(s["Resource"]) for s in api_s3)
    worker_actions = {a for s in worker.values() for a in s["Action"]}
    assert not {"s3:DeleteObject", "dynamodb:DeleteItem"} & worker_actions
    # No s3:* anywhere; on the bucket itself only s3:ListBucket (which lists nothing the
    # code asks for: it makes S3 answer a missing key 404 NoSuchKey instead of 403).
    for role in ("EmbeddingsFunctionRole", "BatchWorkerFunctionRole"):
        for policy in resources[role]["Properties"]["Policies"]:
            for statement in policy_statements(policy):
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                if any(a.startswith("s3:") for a in actions):
                    assert "s3:*" not in actions
                    assert "/*" in str(statement["Resource"]) or actions == ["s3:ListBucket"]


# What each role does to each part of the bucket, from the code that runs under it:
# - the API function: POST /v1/files (boto3's managed upload: PutObject, or a multipart upload
#   it aborts on failure), content and its presigned URL (GetObject), DELETE (DeleteObject);
#   an Upload's parts under uploads/ (put, read back, deleted) and its completion into
#   files/ (S3Writer: multipart, aborted on failure);
# - the worker: input ranges (GetObject) and result files (S3Writer) under files/; shard
#   outputs under batches/ (S3Writer: PutObject, AbortMultipartUpload on failure) read back to
#   concatenate;
# - both: s3:ListBucket on the bucket, so a missing object is NoSuchKey, not AccessDenied.
S3_NEEDS: dict[str, dict[str, set[str]]] = {
    "EmbeddingsFunctionRole": {
        "files/*": {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"},
        "uploads/*": {
            "s3:PutObject",
            "s3:GetObject",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload",
        },
        "bucket": {"s3:ListBucket"},
    },
    "BatchWorkerFunctionRole": {
        "files/*": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"},
        "batches/*": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"},
        "bucket": {"s3:ListBucket"},
    },
}


def s3_grants(template: dict[str, Any], role: str) -> dict[str, set[str]]:
    """Prefix ("files/*", ..., or "bucket") -> the s3: actions `role` grants on it."""
    found: dict[str, set[str]] = {}
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy_statements(policy):
            actions = statement["Action"]
            actions = {actions} if isinstance(actions, str) else set(actions)
            if not any(a.startswith("s3:") for a in actions):
                continue
            resources = statement["Resource"]
            for resource in resources if isinstance(resources, list) else [resources]:
                if resource == {"Fn::GetAtt": ["BatchBucket", "Arn"]}:
                    where = "bucket"
                else:
                    where = resource["Fn::Sub"].removeprefix("${BatchBucket.Arn}/")
                found.setdefault(where, set()).update(actions)
    return found


@pytest.mark.unit
@pytest.mark.parametrize("role", sorted(S3_NEEDS))
def test_each_role_has_exactly_its_s3_actions_on_each_prefix(
    declared: dict[str, Any], role: str
) -> None:
    # Per role and per prefix, not their union: the worker's S3Writer aborts its multipart
    # uploads under batches/ too, which the union (the API's grant on files/) hid.
    assert s3_grants(declared, role) == S3_NEEDS[role]


@pytest.mark.integration
def test_the_worker_runs_the_api_functions_code_off_the_batch_queue(
    template: dict[str, Any],
) -> None:
    api, worker = (
        function(template, "EmbeddingsFunction"),
        function(template, "BatchWorkerFunction"),
    )
    assert worker["Handler"] == "handler.batch.lambda_worker.handler"
    assert worker["CodeUri"] == api["CodeUri"] and worker["Layers"] == api["Layers"]
    work = worker["Events"]["Work"]["Properties"]
    assert work["Queue"] == {"Fn::GetAtt": ["BatchQueue", "Arn"]}
    assert work["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= work["BatchSize"] <= 10
    assert work["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "BatchWorkerConcurrency"}
    sweep = worker["Events"]["ExpirySweep"]
    assert sweep["Type"] == "Schedule" and json.loads(sweep["Properties"]["Input"]) == {
        "kind": "expiry_sweep"
    }
    queue = template["Resources"]["BatchQueue"]["Properties"]
    # AWS: the queue's visibility timeout at least six times the function's timeout.
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["BatchDeadLetterQueue", "Arn"]
    }
    for name in ("BatchQueue", "BatchDeadLetterQueue"):
        assert template["Resources"][name]["Properties"]["SqsManagedSseEnabled"] is True
    shared = ("BATCH_BUCKET", "BATCH_TABLE", "BATCH_QUEUE_URL", "BATCH_SHARD_LINES", "USAGE_TABLE")
    for variable in shared:
        assert (
            worker["Environment"]["Variables"][variable]
            == api["Environment"]["Variables"][variable]
        )


@pytest.mark.integration
def test_the_bucket_is_private_encrypted_tls_only_and_expires_objects(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    bucket = resources["BatchBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    rules = {r.get("Prefix"): r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["files/"]["ExpirationInDays"] == {"Ref": "BatchFileRetentionDays"}
    assert "ExpirationInDays" in rules["batches/"] and "ExpirationInDays" in rules["uploads/"]
    assert any("AbortIncompleteMultipartUpload" in r for r in rules.values())
    [deny] = resources["BatchBucketTlsOnly"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


@pytest.mark.unit
def test_the_worker_sees_the_keys_and_budgets_the_api_function_does(
    declared: dict[str, Any],
) -> None:
    # Batch lines are held to the key's monthly budget, or the deployment's default one:
    # the worker must read the same default, and know whether keys are on at all.
    api = function(declared, "EmbeddingsFunction")["Environment"]["Variables"]
    worker = function(declared, "BatchWorkerFunction")["Environment"]["Variables"]
    for name in ("AUTH_ENABLED", "DEFAULT_MONTHLY_TOKENS", "KEYS_TABLE", "USAGE_TABLE"):
        assert worker[name] == api[name], name
