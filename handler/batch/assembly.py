"""Resumable finalization: a result file is concatenated from the shards' part objects in
bounded steps (S3Writer.append_step: one UploadPartCopy, or one part's worth read), and when
time runs short the progress is saved in S3, so the next invocation carries on where this one
stopped instead of starting over, however large the output.

    <state key>          JSON: the multipart upload, its parts, the source and byte reached
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
    source, at = _resume(writer, state_key)
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
    s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": state_key}, {"Key": state_key + ".buffer"}], "Quiet": True},
    )
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


def _resume(writer: S3Writer, state_key: str) -> tuple[int, int]:
    """Load the saved progress into `writer`; (source index, byte) to carry on from."""
    s3, bucket = writer.s3, writer.bucket
    try:
        state = orjson.loads(s3.get_object(Bucket=bucket, Key=state_key)["Body"].read())
        buffer = s3.get_object(Bucket=bucket, Key=state_key + ".buffer")["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING:
            return 0, 0
        raise
    writer.upload_id, writer.parts = state["upload_id"], state["parts"]
    writer.buffer, writer.size = bytearray(buffer), state["size"]
    return int(state["source"]), int(state["at"])
