"""S3Writer: an object appears whole (one PUT, or a multipart upload past one part) or not
at all; a failure leaves no object and no open upload. moto in process: S3's semantics only."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handler.batch.concat import PART_BYTES, S3Writer, concat_objects

pytestmark = pytest.mark.unit
BUCKET = "writer-test"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def body(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


class ReadCounter:
    """The S3 client, counting the bytes this process reads with GetObject."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def get_object(self, **kwargs: Any) -> Any:
        got = self.s3.get_object(**kwargs)
        self.read += int(got["ContentLength"])
        return got


def test_small_and_multipart_objects_hold_exactly_what_was_written(s3: Any) -> None:
    line = b"x" * 1000 + b"\n"
    for key, count in (("small", 3), ("large", 2 * PART_BYTES // len(line) + 7)):
        with S3Writer(s3, BUCKET, key) as out:
            for _ in range(count):
                out.write(line)
        assert out.size == count * len(line)
        assert body(s3, key) == line * count
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_parts_uploaded_while_writing_go_on_keep_order_and_bytes(s3: Any) -> None:
    # GIVEN an overlapping writer (a shard's output): parts upload while lines are written
    lines = [bytes([97 + i % 26]) * 999 + b"\n" for i in range(3 * PART_BYTES // 1000 + 11)]
    with S3Writer(s3, BUCKET, "overlapped", overlap=True) as out:
        for line in lines:
            out.write(line)
    # THEN the object is every byte in order, in 4 parts numbered 1..4, no upload left open
    assert body(s3, "overlapped") == b"".join(lines)
    assert [p["PartNumber"] for p in out.parts] == [1, 2, 3, 4]
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


class FailingPart(ReadCounter):
    """The S3 client, its UploadPart number `bad` failing (S3 down, a timeout)."""

    def __init__(self, s3: Any, bad: int) -> None:
        super().__init__(s3)
        self.bad = bad

    def upload_part(self, **kwargs: Any) -> Any:
        if kwargs["PartNumber"] == self.bad:
            raise ConnectionError("S3 went away")
        return self.s3.upload_part(**kwargs)


@pytest.mark.parametrize("bad", [1, 2, 3])
def test_a_part_failing_in_the_background_fails_the_object_whole(s3: Any, bad: int) -> None:
    # GIVEN an overlapping writer whose part `bad` fails while later lines are written
    with (
        pytest.raises(ConnectionError, match="went away"),
        S3Writer(FailingPart(s3, bad), BUCKET, "k", overlap=True) as out,
    ):
        for _ in range(3):
            out.write(b"z" * PART_BYTES)
    # THEN the failure surfaced (at the next part or at close), and neither an object nor
    # an open upload is left
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_failure_midway_leaves_no_object_and_no_open_upload(s3: Any) -> None:
    with pytest.raises(RuntimeError, match="worker died"), S3Writer(s3, BUCKET, "k") as out:
        out.write(b"y" * (PART_BYTES + 1))  # one part already uploaded
        raise RuntimeError("worker died")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_concatenation_keeps_order_and_overwrites_on_a_rerun(s3: Any) -> None:
    for index, data in enumerate((b"a\n", b"", b"b\nc\n")):
        s3.put_object(Bucket=BUCKET, Key=f"part{index}", Body=data)
    for _ in range(2):
        size = concat_objects(s3, BUCKET, ["part0", "part1", "part2"], "joined")
        assert size == 6 and body(s3, "joined") == b"a\nb\nc\n"


def test_large_sources_are_copied_by_s3_not_read_through_the_worker(s3: Any) -> None:
    mib = 1024 * 1024
    sizes = {"a": 1000, "big1": 12 * mib, "b": 3 * mib, "big2": 11 * mib + 5, "c": 10}
    data = {key: bytes([65 + i]) * size for i, (key, size) in enumerate(sizes.items())}
    for key, value in data.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=value)
    counted = ReadCounter(s3)

    size = concat_objects(counted, BUCKET, list(data), "joined")

    assert size == sum(sizes.values())
    assert body(s3, "joined") == b"".join(data.values())
    # read: the small sources, and each large one's top-up of the buffer to 5 MiB
    assert counted.read <= 1000 + 3 * mib + 10 + 2 * 5 * mib
    assert counted.read < size / 2


def test_an_assembly_short_of_time_saves_its_progress_and_the_next_call_finishes(
    s3: Any,
) -> None:
    from handler.batch.assembly import STOP_SECONDS, assemble

    mib = 1024 * 1024
    sizes = [3 * mib, 12 * mib, 700, 2 * mib, 11 * mib, 5]
    data = [bytes([97 + i]) * size for i, size in enumerate(sizes)]
    keys = [f"src{i}" for i in range(len(sizes))]
    for key, value in zip(keys, data, strict=True):
        s3.put_object(Bucket=BUCKET, Key=key, Body=value)
    # GIVEN invocations that each have time for two steps (of six)
    calls = 0
    results = []
    for _ in range(20):
        clock = partial(next, iter([3600.0] * 2), STOP_SECONDS - 1)
        got = assemble(s3, BUCKET, keys, "joined", "state.json", clock)
        calls += 1
        results.append(got)
        if got is not None:
            break
    # THEN it took several calls, each carrying on where the last stopped, and the bytes
    # are exactly the sources in order
    assert calls > 2 and results[:-1] == [None] * (calls - 1)
    assert results[-1] == sum(sizes)
    assert body(s3, "joined") == b"".join(data)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    # AND a rerun (a worker that died before recording the file) finds it whole, not an
    # upload to resume
    assert assemble(s3, BUCKET, keys, "joined", "state.json", lambda: 3600.0) == sum(sizes)
