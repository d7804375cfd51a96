"""How long 10M batch inputs take at a concurrency (bench/batch_wall.py), by hand."""

from __future__ import annotations

import pytest

from bench.batch_wall import Measured, ramp_seconds, ten_million_time
from bench.bill_scale import Job

pytestmark = pytest.mark.unit

MEASURED = Measured(
    lines_per_s=500.0, cold_start_s=1.0, plan_s=0.2, finalize_s=0.1, lines=10_000, shards=2
)


def test_1000_workers_run_2000_shards_in_two_waves_plus_one_cold_start() -> None:
    result = ten_million_time(MEASURED, Job(10_000_000, 5_000), 1_000)
    # a shard: 5,000 / 500 = 10 s; planning 0.2 s x 50,000 / 10,000 = 1 s; finalization
    # 0.1 s x 10 shards / 2 = 0.5 s; one cold start 1 s: 2 x 10 + 1 + 1 + 0.5
    assert (result["waves"], result["shard_s"]) == (2, 10.0)
    assert (result["plan_s"], result["finalize_s"]) == (1.0, 0.5)
    assert result["seconds"] == pytest.approx(22.5)


def test_the_templates_10_workers_take_200_waves() -> None:
    result = ten_million_time(MEASURED, Job(10_000_000, 5_000), 10)
    assert result["waves"] == 200
    assert result["seconds"] == pytest.approx(200 * 10 + 2.5)


def test_the_sqs_ramp_adds_5_workers_a_second_from_5() -> None:
    # to 15 workers: 2 s, in which 5 x 2 + 5 x 2^2 / 2 = 20 worker-seconds are done
    assert ramp_seconds(20.0, 15) == pytest.approx(2.0)
    assert ramp_seconds(20.0 + 30.0, 15) == pytest.approx(2.0 + 30.0 / 15)  # then 15 at once
    assert ramp_seconds(7.5, 15) == pytest.approx(1.0)  # 5 x 1 + 5 x 1^2 / 2


def test_under_the_ramp_1000_workers_are_never_reached_by_10m_inputs() -> None:
    result = ten_million_time(MEASURED, Job(10_000_000, 5_000), 1_000)
    # 20,000 worker-seconds: 5t + 2.5t^2 = 20,000 -> t = (-5 + sqrt(25 + 200,000)) / 5
    fill = (-5 + (25 + 200_000) ** 0.5) / 5
    assert result["seconds_sqs_ramp"] == pytest.approx(fill + 10 + 2.5, abs=0.01)
