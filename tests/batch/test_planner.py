"""Shard planning over a streamed file: byte ranges, line numbers, limits."""

from __future__ import annotations

import pytest

from handler.batch.planner import MAX_REQUESTS, PlanError, plan_shards, split_lines

pytestmark = pytest.mark.unit


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk", [1, 3, 7, 1024])
def test_ranges_cover_each_request_line_once_whatever_the_chunking(chunk: int) -> None:
    data = b'{"a":1}\n\n{"b":22}\n  \n{"c":333}\n{"d":4}'  # blank lines, no final newline
    plan = plan_shards("batch_x", chunked(data, chunk), lines_per_shard=2)

    assert plan.total == 4
    assert [(s.index, s.first_line) for s in plan.shards] == [(1, 1), (2, 5)]
    # each shard's range, split again, gives its lines with the file's numbering
    got = []
    for shard in plan.shards:
        lines = split_lines([data[shard.start : shard.end]])
        for number, (_, _, line) in enumerate(lines, start=shard.first_line):
            if line.strip():
                got.append((number, line))
    assert got == [(1, b'{"a":1}'), (3, b'{"b":22}'), (5, b'{"c":333}'), (6, b'{"d":4}')]
    assert plan.shards[-1].end == len(data)


def test_empty_and_blank_files_are_refused() -> None:
    for data in (b"", b"\n \n"):
        with pytest.raises(PlanError) as caught:
            plan_shards("batch_x", [data], 10)
        assert caught.value.code == "empty_file"


def test_more_than_openai_limit_of_requests_is_refused() -> None:
    data = b"{}\n" * (MAX_REQUESTS + 1)  # no custom_id: the worker reports those lines
    with pytest.raises(PlanError) as caught:
        plan_shards("batch_x", chunked(data, 65536), 1000)
    assert caught.value.code == "too_many_requests"
    assert plan_shards("batch_x", [b"{}\n" * MAX_REQUESTS], 1000).total == MAX_REQUESTS


def test_a_custom_id_used_twice_fails_the_plan() -> None:
    data = b'{"custom_id":"a"}\n{"custom_id":"b"}\nnot json\n{"custom_id":"a"}\n'
    with pytest.raises(PlanError) as caught:
        plan_shards("batch_x", [data], 10)
    assert caught.value.code == "duplicate_custom_id"
    assert caught.value.message.startswith("Line 4: the custom_id 'a'")
