"""template.yaml's dashboard and alarms name only metrics the function emits, in the
namespace it is configured with; the dashboard body is valid JSON once substituted; the
function logs in Lambda's JSON format."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from handler.metrics import UNITS

pytestmark = pytest.mark.unit
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
SEARCH_METRIC = re.compile(r'MetricName="(\w+)"')
SEARCH_NAMESPACE = re.compile(r"SEARCH\('\{\"([^\"]+)\",route\}")
INSIGHTS = re.compile(r'SELECT (?:SUM|AVG|MIN|MAX|COUNT)\((\w+)\) FROM SCHEMA\("([^"]+)", route\)')
STACK = "stack-1"


class TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags, as {"Fn::X": ...} (or {"Ref": ...})."""


def _intrinsic(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _intrinsic)


def substitute(text: str, values: dict[str, str] | None = None) -> str:
    """A Fn::Sub string with the stack's values (and `values`) filled in, the others as
    placeholders."""
    values = {"AWS::StackName": STACK, "AWS::Region": "us-east-1", **(values or {})}
    return re.sub(r"\$\{([^}!]+)\}", lambda m: values.get(m.group(1), f"<{m.group(1)}>"), text)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=TemplateLoader)  # noqa: S506
    return loaded


@pytest.fixture(scope="module")
def namespace(template: dict[str, Any]) -> str:
    env = template["Resources"]["EmbeddingsFunction"]["Properties"]["Environment"]["Variables"]
    return substitute(env["METRICS_NAMESPACE"]["Fn::Sub"])


FRONT_DOORS = {"UseHttpApi": "HttpApi", "UseFunctionUrl": "FunctionUrl"}


def dashboard_for(template: dict[str, Any], front_door: str) -> dict[str, Any]:
    """The dashboard body as CloudFormation renders it for FrontDoor=`front_door`."""
    body, variables = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"][
        "Fn::Sub"
    ]
    chosen: dict[str, str] = {}
    for name, value in variables.items():
        condition, if_true, if_false = value["Fn::If"]
        picked = if_true if FRONT_DOORS[condition] == front_door else if_false
        chosen[name] = substitute(picked["Fn::Sub"])
    parsed: dict[str, Any] = json.loads(substitute(body, chosen))
    return parsed


@pytest.fixture(scope="module", params=["HttpApi", "FunctionUrl"])
def dashboard(template: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    return dashboard_for(template, request.param)


def dashboard_metrics(dashboard: dict[str, Any], namespace: str) -> set[str]:
    """Custom metric names the dashboard's SEARCH expressions name; every one in `namespace`."""
    names: set[str] = set()
    for widget in dashboard["widgets"]:
        for row in widget["properties"].get("metrics", []):
            expression = row[0].get("expression", "") if isinstance(row[0], dict) else ""
            if expression:
                assert SEARCH_NAMESPACE.search(expression).group(1) == namespace, expression  # type: ignore[union-attr]
                names.update(SEARCH_METRIC.findall(expression))
    return names


def alarm_metrics(template: dict[str, Any], namespace: str) -> set[str]:
    names: set[str] = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        if props.get("Namespace") == namespace:
            names.add(props["MetricName"])
        for query in props.get("Metrics", []):
            expression = query.get("Expression", "")
            expression = (
                substitute(expression.get("Fn::Sub", ""))
                if isinstance(expression, dict)
                else expression
            )
            for metric, queried_namespace in INSIGHTS.findall(expression):
                assert queried_namespace == namespace, expression
                names.add(metric)
    return names


def filtered_metrics(template: dict[str, Any], namespace: str) -> set[str]:
    """Metrics a log metric filter derives from the function's own log lines."""
    return {
        transformation["MetricName"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Logs::MetricFilter"
        for transformation in resource["Properties"]["MetricTransformations"]
        if substitute(str(transformation["MetricNamespace"])) == namespace
    }


def test_dashboard_and_alarms_name_only_emitted_metrics(
    template: dict[str, Any], dashboard: dict[str, Any], namespace: str
) -> None:
    shown = dashboard_metrics(dashboard, namespace)
    alarmed = alarm_metrics(template, namespace)
    assert {
        "Tokens",
        "Latency",
        "ModelLatency",
        "ColdStart",
        "InitDuration",
        "UsageLogged",
    } <= shown
    assert {"BatchLinesCompleted", "BatchLinesFailed"} <= shown  # the batch worker's (issue 11)
    assert "UsageLogged" in alarmed
    emitted = set(UNITS) | filtered_metrics(template, namespace)
    assert shown - emitted == set()
    assert alarmed - emitted == set()


def test_the_check_catches_a_metric_nobody_emits(dashboard: dict[str, Any], namespace: str) -> None:
    row = dashboard["widgets"][0]["properties"]["metrics"][0][0]
    broken = json.loads(json.dumps(dashboard))
    broken["widgets"][0]["properties"]["metrics"][0][0] = {
        **row, "expression": row["expression"].replace('"Latency"', '"Latncy"'),
    }  # fmt: skip
    assert dashboard_metrics(broken, namespace) - set(UNITS) == {"Latncy"}


def test_dashboard_widgets_are_well_formed(dashboard: dict[str, Any]) -> None:
    for widget in dashboard["widgets"]:
        assert widget["type"] in ("metric", "log")
        assert 0 <= widget["x"] and widget["x"] + widget["width"] <= 24  # the 24-column grid
        props = widget["properties"]
        assert props["title"] and props["region"] == "us-east-1"
        if widget["type"] == "log":
            assert props["query"].startswith(f"SOURCE '/aws/lambda/{STACK}-embeddings'")
            continue
        ids = [row[-1]["id"] for row in props["metrics"] if "id" in row[-1]]
        assert len(ids) == len(set(ids))
        for row in props["metrics"]:
            if "expression" not in row[0]:  # [namespace, name, dim, value, ..., {options}]
                assert row[0] in ("AWS/Lambda", "AWS/ApiGateway", "AWS/SQS", ".")


def test_batch_widgets_watch_the_batch_queue_and_its_dlq(dashboard: dict[str, Any]) -> None:
    rows = [
        row
        for widget in dashboard["widgets"]
        for row in widget["properties"].get("metrics", [])
        if not isinstance(row[0], dict)
    ]
    sqs = [row for row in rows if row[0] == "AWS/SQS"]
    assert sqs, "no queue widget"
    named = {row[3] for row in rows if len(row) > 3 and row[2] in ("QueueName", ".")}
    assert {"<BatchQueue.QueueName>", "<BatchDeadLetterQueue.QueueName>"} <= named


def test_the_batch_worker_names_the_same_namespace(
    template: dict[str, Any], namespace: str
) -> None:
    props = template["Resources"]["BatchWorkerFunction"]["Properties"]
    variables = props["Environment"]["Variables"]
    assert substitute(variables["METRICS_NAMESPACE"]["Fn::Sub"]) == namespace
    assert props["LoggingConfig"]["LogFormat"] == "JSON"


def test_the_function_logs_json_and_names_its_namespace(
    template: dict[str, Any], namespace: str
) -> None:
    props = template["Resources"]["EmbeddingsFunction"]["Properties"]
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert namespace == f"ServerlessEmbeddings/{STACK}"
    assert not namespace.startswith("AWS/")


def test_the_front_door_widget_follows_the_front_door(template: dict[str, Any]) -> None:
    def namespaces(front_door: str) -> set[str]:
        widgets = dashboard_for(template, front_door)["widgets"]
        rows = [row for w in widgets for row in w["properties"].get("metrics", [])]
        return {row[0] for row in rows if isinstance(row[0], str)} - {"."}

    assert "AWS/ApiGateway" in namespaces("HttpApi")
    assert "AWS/ApiGateway" not in namespaces("FunctionUrl")  # no HttpApi to name there
    function_url = json.dumps(dashboard_for(template, "FunctionUrl"))
    assert "UrlRequestCount" in function_url and "<HttpApi>" not in function_url
    resources = template["Resources"]
    assert resources["Api5xxAlarm"]["Condition"] == "UseHttpApi"
    assert resources["FunctionUrl5xxAlarm"]["Condition"] == "UseFunctionUrl"
    assert resources["FunctionUrl5xxAlarm"]["Properties"]["MetricName"] == "Url5xxCount"
