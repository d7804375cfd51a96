"""Resumable finalization: a result file is concatenated from the shards' part objects in
bounded steps (S3Writer.append_step: one UploadPartCopy, or one part's worth read), and when
time runs short the progress is saved in S3, so the next invocation carries on where this one
stopped instead of starting over, however large the output.

    <state key>          JSON: the multipart upload, its parts, the source and byte reached;
                         {"done": size} once the object is whole
    <state key>.buffer   the bytes waiting for the next part (under one part)

A step that fails leaves the upload open and the last saved state pointing at it: a retry
resumes from there (a part number sent again replaces the first). An upload never completed
goes with the bucket's lifecycle rule for incomplete multipart uploads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from botocore.exceptions import ClientError

from handler.batch.concat import S3Writer

# Steps stop with this much left: the longest step (a 512 MiB server-side copy) and the save.
STOP_SECONDS = 60.0
# What S3 answers for a state never saved: NoSuchKey, or AccessDenied for a role without
# s3:ListBucket. Either way there is nothing to resume; a real denial fails the next call.
MISSING = ("NoSuchKey", "404", "AccessDenied")


class AssemblyDoneError(Exception):
    """The saved state says the object is already whole."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def assemble(
    s3: Any,
    bucket: str,
    sources: Sequence[str],
    dest: str,
    state_key: str,
    time_left: Callable[[], float],
) -> int | None:
    """Concatenate `sources`, in order, into `dest`; its size, or None when time ran short
    first (the progress is saved under `state_key`: call again to carry on)."""
    writer = S3Writer(s3, bucket, dest)
    try:
        source, at = _resume(writer, state_key)
    except AssemblyDoneError as done:
        return done.size
    size_of: dict[int, int] = {}
    while source < len(sources):
        if time_left() < STOP_SECONDS:
            _save(writer, state_key, source, at)
            return None
        if source not in size_of:
            head = s3.head_object(Bucket=bucket, Key=sources[source])
            size_of[source] = int(head["ContentLength"])
        if at < size_of[source]:
            at = writer.append_step(sources[source], size_of[source], at)
        if at >= size_of[source]:
            source, at = source + 1, 0
    size = writer.close()
    # Marked done rather than deleted (the worker deletes nothing; the bucket's lifecycle rule
    # on batches/ does): a rerun before the file is recorded finds it done, not an upload
    # already completed to resume.
    s3.put_object(Bucket=bucket, Key=state_key, Body=orjson.dumps({"done": size}))
    return size


def _save(writer: S3Writer, state_key: str, source: int, at: int) -> None:
    s3, bucket = writer.s3, writer.bucket
    s3.put_object(Bucket=bucket, Key=state_key + ".buffer", Body=bytes(writer.buffer))
    state = {
        "upload_id": writer.upload_id,
        "parts": writer.parts,
        "size": writer.size,
        "source": source,
        "at": at,
    }
    s3.put_object(Bucket=bucket, Key=state_key, Body=orjson.dumps(state))


def _load(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING:
            return None
        raise


def _resume(writer: S3Writer, state_key: str) -> tuple[int, int]:
    """Load the saved progress into `writer`; (source index, byte) to carry on from."""
    s3, bucket = writer.s3, writer.bucket
    saved = _load(s3, bucket, state_key)
    if saved is None:
        return 0, 0
    state = orjson.loads(saved)
    if "done" in state:
        raise AssemblyDoneError(int(state["done"]))
    buffer = _load(s3, bucket, state_key + ".buffer") or b""
    writer.upload_id, writer.parts = state["upload_id"], state["parts"]
    writer.buffer, writer.size = bytearray(buffer), state["size"]
    return int(state["source"]), int(state["at"])
