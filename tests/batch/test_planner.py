"""Shard planning over a streamed file: byte ranges, line numbers, limits."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest

from handler.batch.jsonl import BOM, split_lines
from handler.batch.planner import MAX_EMBEDDING_INPUTS, MAX_REQUESTS, PlanError, plan_shards

pytestmark = pytest.mark.unit
CAP = 6 * 1024 * 1024  # MAX_BODY_BYTES's default


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk", [1, 3, 7, 1024])
def test_ranges_cover_each_request_line_once_whatever_the_chunking(chunk: int) -> None:
    data = b'{"a":1}\n\n{"b":22}\n  \n{"c":333}\n{"d":4}'  # blank lines, no final newline
    plan = plan_shards("batch_x", chunked(data, chunk), lines_per_shard=2, max_line_bytes=CAP)

    assert plan.total == 4
    assert [(s.index, s.first_line) for s in plan.shards] == [(1, 1), (2, 4)]  # after line 3
    # each shard's range, split again, gives its lines with the file's numbering
    got = []
    for shard in plan.shards:
        lines = split_lines([data[shard.start : shard.end]], shard.first_line, shard.start)
        got += [(line.number, line.raw) for line in lines]
    assert got == [(1, b'{"a":1}'), (3, b'{"b":22}'), (5, b'{"c":333}'), (6, b'{"d":4}')]
    assert plan.shards[-1].end == len(data)


def test_empty_and_blank_files_are_refused() -> None:
    for data in (b"", b"\n \n"):
        with pytest.raises(PlanError) as caught:
            plan_shards("batch_x", [data], 10, CAP)
        assert caught.value.code == "empty_file"


def test_more_than_openai_limit_of_requests_is_refused() -> None:
    data = b"{}\n" * (MAX_REQUESTS + 1)  # no custom_id: the worker reports those lines
    with pytest.raises(PlanError) as caught:
        plan_shards("batch_x", chunked(data, 65536), 1000, CAP)
    assert caught.value.code == "too_many_requests"
    assert plan_shards("batch_x", [b"{}\n" * MAX_REQUESTS], 1000, CAP).total == MAX_REQUESTS


def test_more_than_openai_limit_of_inputs_across_the_batch_is_refused() -> None:
    def line(n: int, given: object) -> bytes:
        return b'{"custom_id":"c%d","body":{"input":%s}}\n' % (n, json.dumps(given).encode())

    # a token array is one input, a list of strings or of token arrays one per item
    at_limit = [line(0, [[1, 2]] * 2), line(1, [3, 4, 5]), line(2, "x")]
    at_limit += [line(i, ["y"] * 1000) for i in range(3, 3 + (MAX_EMBEDDING_INPUTS - 4) // 1000)]
    at_limit.append(line(99, ["z"] * ((MAX_EMBEDDING_INPUTS - 4) % 1000)))
    assert plan_shards("batch_x", [b"".join(at_limit)], 1000, CAP).total == len(at_limit)
    with pytest.raises(PlanError) as caught:
        plan_shards("batch_x", [b"".join([*at_limit, line(100, "over")])], 1000, CAP)
    assert caught.value.code == "too_many_inputs"
    assert (caught.value.line, caught.value.param) == (len(at_limit) + 1, "body.input")


def test_a_custom_id_used_twice_fails_the_plan() -> None:
    data = b'{"custom_id":"a"}\n{"custom_id":"b"}\nnot json\n{"custom_id":"a"}\n'
    with pytest.raises(PlanError) as caught:
        plan_shards("batch_x", [data], 10, CAP)
    assert caught.value.code == "duplicate_custom_id"
    assert caught.value.message.startswith("Line 4: the custom_id 'a'")
    assert (caught.value.line, caught.value.param) == (4, "custom_id")


def test_a_bom_before_the_first_line_is_not_part_of_it() -> None:
    data = BOM + b'{"custom_id":"a"}\r\n{"custom_id":"a"}\r\n'
    for chunk in (1, 2, 4, 1024):  # the BOM split across chunks too
        [line, _] = split_lines(chunked(data, chunk), file_start=True)
        assert (line.number, line.start, line.raw) == (1, 3, b'{"custom_id":"a"}\r')
        with pytest.raises(PlanError) as caught:  # so its custom_id is seen
            plan_shards("batch_x", chunked(data, chunk), 10, CAP)
        assert caught.value.message.startswith("Line 2: the custom_id 'a'")
    # only at the file's start: a range read from the middle keeps its bytes
    assert next(iter(split_lines([BOM + b"{}"]))).raw == BOM + b"{}"


def test_a_line_over_the_cap_is_neither_kept_whole_nor_parsed() -> None:
    # GIVEN a 16 MB line read in 1 MiB chunks, twice with the same custom_id
    huge = b'{"custom_id":"same","body":"' + b"x" * (16 * 1024 * 1024) + b'"}\n'
    data = huge + huge + b'{"custom_id":"ok"}\n'
    tracemalloc.start()
    try:
        stream = (data[i : i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024))
        plan = plan_shards("batch_x", stream, 10, 1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # THEN about one chunk and one capped line were held, never the line, and it was not
    # parsed (no duplicate_custom_id: the worker answers each with line_too_large)
    assert peak < 8 * 1024 * 1024, peak
    assert plan.total == 3
    lines = list(split_lines([data], max_line_bytes=1024))
    assert [(len(line.raw), line.size) for line in lines] == [
        (1025, len(huge) - 1),
        (1025, len(huge) - 1),
        (18, 18),
    ]


def test_shards_are_cut_on_bytes_as_well_as_lines() -> None:
    data = b"".join(b'{"custom_id":"%d","pad":"%s"}\n' % (i, b"x" * 1000) for i in range(50))
    plan = plan_shards("batch_x", [data], 1000, CAP, shard_bytes=10_000)
    assert len(plan.shards) == 5 and plan.total == 50
    assert all(s.end - s.start < 10_000 + 1100 for s in plan.shards)
    assert [s.start for s in plan.shards[1:]] == [s.end for s in plan.shards[:-1]]


def test_splitting_is_linear_in_a_long_line_and_in_blank_runs() -> None:
    # a quadratic split (joining the pending bytes per chunk) takes ~10 s here; linear, ms
    long_line = b'{"x":"' + b"y" * (8 * 1024 * 1024) + b'"}\n'
    started = time.perf_counter()
    [line] = split_lines(chunked(long_line, 1024))
    assert line.size == len(long_line) - 1
    # a Python step per blank line: ~5 s for 20 million of them
    blanks = b"\n" * 20_000_000 + b" \r\n\t\n" + b"{}\n"
    [line] = split_lines(chunked(blanks, 1024 * 1024))
    assert (line.number, line.raw) == (20_000_003, b"{}")
    assert time.perf_counter() - started < 3
