"""The CloudWatch Embedded Metric Format rules, as a checker for the tests.

From the specification (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html): the log event is one JSON object with
no data before or after it; `_aws` holds `Timestamp` (milliseconds since the epoch) and
`CloudWatchMetrics`, an array of MetricDirectives; a directive has `Namespace`, `Dimensions`
(an array of DimensionSets: arrays of at most 30 member names, each naming a top-level member
whose value is a string) and `Metrics` (at most 100 MetricDefinitions: `Name`, optional
`Unit` from CloudWatch's list, optional `StorageResolution` 1 or 60), each naming a top-level
member holding a number or an array of at most 100 numbers. Objects the spec defines carry no
other members. A log event is at most 256 KB (the older, stricter of the limits the pages give).
"""

from __future__ import annotations

import json
from typing import Any

UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}  # fmt: skip
MAX_EVENT_BYTES = 256 * 1024
MAX_DIMENSIONS = 30
MAX_METRICS = 100
MAX_VALUES = 100


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _dimension_value_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "is not a non-empty string"
    if len(value) > 1024 or not value.isascii() or any(ord(c) < 32 for c in value):
        return "is over 1024 characters or not printable ASCII"
    return None


def _directive_problems(directive: Any, root: dict[str, Any]) -> list[str]:
    if not isinstance(directive, dict):
        return ["a MetricDirective is not an object"]
    problems = [f"MetricDirective has extra member {k}" for k in directive
                if k not in ("Namespace", "Dimensions", "Metrics")]  # fmt: skip
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255 or ":" in namespace:
        problems.append(f"Namespace {namespace!r} is invalid")
    dimension_sets = directive.get("Dimensions")
    if not isinstance(dimension_sets, list):
        problems.append("Dimensions is not an array")
        dimension_sets = []
    for dimension_set in dimension_sets:
        if not isinstance(dimension_set, list) or len(dimension_set) > MAX_DIMENSIONS:
            problems.append(f"DimensionSet {dimension_set!r} is not an array of <= 30 names")
            continue
        for name in dimension_set:
            if name not in root:
                problems.append(f"dimension {name!r} has no top-level member")
            elif (why := _dimension_value_problem(root[name])) is not None:
                problems.append(f"dimension {name!r} value {why}")
    metrics = directive.get("Metrics")
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
        return [*problems, "Metrics is not an array of <= 100 MetricDefinitions"]
    for definition in metrics:
        problems.extend(_definition_problems(definition, root))
    return problems


def _definition_problems(definition: Any, root: dict[str, Any]) -> list[str]:
    if not isinstance(definition, dict) or not isinstance(definition.get("Name"), str):
        return [f"MetricDefinition {definition!r} has no Name"]
    name = definition["Name"]
    problems = [f"MetricDefinition {name} has extra member {k}" for k in definition
                if k not in ("Name", "Unit", "StorageResolution")]  # fmt: skip
    if "Unit" in definition and definition["Unit"] not in UNITS:
        problems.append(f"{name}: unit {definition['Unit']!r} is not a CloudWatch unit")
    if definition.get("StorageResolution", 60) not in (1, 60):
        problems.append(f"{name}: StorageResolution must be 1 or 60")
    value = root.get(name)
    if isinstance(value, list):
        if not value or len(value) > MAX_VALUES or not all(_is_number(v) for v in value):
            problems.append(f"{name}: an array value must hold 1 to 100 numbers")
    elif not _is_number(value):
        problems.append(f"{name}: top-level member {value!r} is not a number")
    return problems


def emf_problems(line: str) -> list[str]:
    """Every way `line` (one log event) breaks the EMF specification; [] when valid."""
    if len(line.encode()) > MAX_EVENT_BYTES:
        return ["the event is over 256 KB"]
    try:
        root = json.loads(line)
    except ValueError:
        return ["not one JSON document"]
    if not isinstance(root, dict) or not isinstance(root.get("_aws"), dict):
        return ["no _aws metadata object at the root"]
    meta = root["_aws"]
    problems = [f"_aws has extra member {k}" for k in meta
                if k not in ("Timestamp", "CloudWatchMetrics")]  # fmt: skip
    if not _is_number(meta.get("Timestamp")) or meta["Timestamp"] < 10**12:
        problems.append("Timestamp is not milliseconds since the epoch")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "CloudWatchMetrics is not a non-empty array"]
    for directive in directives:
        problems.extend(_directive_problems(directive, root))
    return problems
