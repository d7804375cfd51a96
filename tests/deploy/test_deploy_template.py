"""template.yaml: the validators CI runs, and the contracts it shares with handler/.

The validators run offline: `sam validate --lint`, cfn-lint, and checkov (with
--skip-download; every skipped check carries its reason beside it in the template). The
contracts: the environment the function gets is what handler/settings.py reads, the IAM
actions are exactly those handler/usage/store.py documents, and the tables have the layout
handler/usage/store.create_tables gives them locally.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from deploy_support import CHECKOV_VENV, REPO, TOOLS_VENV
from moto import mock_aws

from handler.usage import store
from tools.dynamodb_local import LOCAL_ENV

pytestmark = pytest.mark.functional

SETTINGS_SOURCE = REPO / "handler" / "settings.py"


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_sam_validate_lint(built: Path) -> None:
    result = run_tool(str(TOOLS_VENV / "bin" / "sam"), "validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_cfn_lint(built: Path) -> None:
    result = run_tool(str(TOOLS_VENV / "bin" / "cfn-lint"), "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_clean_and_every_skip_justified(built: Path, template: dict[str, Any]) -> None:
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


def test_every_environment_variable_is_read_by_settings(template: dict[str, Any]) -> None:
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', SETTINGS_SOURCE.read_text()))
    for name in ("EmbeddingsFunction", "UsageReplayFunction"):
        variables = function(template, name)["Environment"]["Variables"]
        unread = set(variables) - read
        assert not unread, f"{name} sets {sorted(unread)}, which handler/settings.py never reads"


def documented_actions(section_start: str, section_end: str) -> set[str]:
    """The dynamodb:/sqs: actions store.py's docstring lists between two headings."""
    doc = store.__doc__ or ""
    start = doc.index(section_start)
    section = doc[start : doc.index(section_end, start)]
    return set(re.findall(r"\b(?:dynamodb|sqs):[A-Za-z]+", section))


def granted_actions(template: dict[str, Any], role: str) -> set[str]:
    actions: set[str] = set()
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return {a for a in actions if a.startswith(("dynamodb:", "sqs:"))}


def test_function_role_grants_exactly_the_documented_actions(template: dict[str, Any]) -> None:
    expected = documented_actions("the embeddings FUNCTION calls", "The optional queue-drain")
    assert granted_actions(template, "EmbeddingsFunctionRole") == expected


def test_replay_role_grants_exactly_the_documented_actions(template: dict[str, Any]) -> None:
    expected = documented_actions("The optional queue-drain", "The operator CLI")
    assert granted_actions(template, "UsageReplayFunctionRole") == expected


def test_tables_match_the_layout_the_code_creates(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in LOCAL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        client = store.make_client("dynamodb", store.client_config(1, 1, 1))
        store.create_tables(client, "keys", "usage")
        for logical, table in (("KeysTable", "keys"), ("UsageTable", "usage")):
            declared = template["Resources"][logical]["Properties"]
            actual = client.describe_table(TableName=table)["Table"]
            assert sorted(declared["KeySchema"], key=str) == sorted(actual["KeySchema"], key=str)
            assert sorted(declared["AttributeDefinitions"], key=str) == sorted(
                actual["AttributeDefinitions"], key=str
            )
            ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
            declared_ttl = declared.get("TimeToLiveSpecification", {})
            assert declared_ttl.get("AttributeName") == ttl.get("AttributeName"), logical
            assert declared["BillingMode"] == "PAY_PER_REQUEST"
            assert declared["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
            assert declared["SSESpecification"]["SSEEnabled"]


@pytest.fixture(scope="module")
def transformed(built: Path) -> dict[str, Any]:
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
