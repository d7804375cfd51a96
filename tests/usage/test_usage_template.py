"""template.yaml's usage parameters agree with the limits handler/settings.py enforces.

Read with PyYAML (CloudFormation's short-form tags kept as plain values), so this runs in the
service venv; tests/deploy runs cfn-lint, checkov and the SAM transform on the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from handler.settings import (
    MAX_KEY_CACHE_SECONDS,
    MIN_USAGE_TTL_DAYS,
    Settings,
    SettingsError,
)
from handler.usage.recorder import LOST_EVENT

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_Loader)  # noqa: S506
    return loaded


@pytest.mark.unit
def test_key_cache_ttl_has_the_same_maximum_in_template_and_settings(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["KeyCacheTtlSeconds"]
    assert parameter["MaxValue"] == MAX_KEY_CACHE_SECONDS
    env = {"KEY_CACHE_TTL_SECONDS": str(MAX_KEY_CACHE_SECONDS)}
    assert Settings.from_env(env).key_cache_seconds == MAX_KEY_CACHE_SECONDS
    with pytest.raises(SettingsError, match="KEY_CACHE_TTL_SECONDS"):
        Settings.from_env({"KEY_CACHE_TTL_SECONDS": str(MAX_KEY_CACHE_SECONDS + 1)})


@pytest.mark.unit
def test_usage_ttl_outlives_every_wait_in_the_queues(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["UsageRecordTtlDays"]
    assert parameter["MinValue"] == MIN_USAGE_TTL_DAYS
    resources = template["Resources"]
    for queue in ("UsageFallbackQueue", "UsageFallbackDeadLetterQueue"):
        retention = resources[queue]["Properties"]["MessageRetentionPeriod"]
        assert MIN_USAGE_TTL_DAYS * 86400 > retention, queue
    with pytest.raises(SettingsError, match="USAGE_RECORD_TTL_DAYS"):
        Settings.from_env({"USAGE_RECORD_TTL_DAYS": str(MIN_USAGE_TTL_DAYS - 1)})


@pytest.mark.unit
def test_the_lost_record_alarm_counts_the_recorders_lost_lines(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    metric_filter = resources["UsageRecordsLostFilter"]["Properties"]
    assert metric_filter["LogGroupName"] == {"Ref": "EmbeddingsLogGroup"}
    assert metric_filter["FilterPattern"] == f'"{LOST_EVENT}"'
    (transform,) = metric_filter["MetricTransformations"]
    alarm = resources["UsageRecordsLostInLogsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        transform["MetricNamespace"],
        transform["MetricName"],
    )
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"].startswith("GreaterThanOrEqual")
