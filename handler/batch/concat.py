"""Concatenate S3 objects into one, streaming: S3 multipart upload fed from a bounded buffer.

Parts must be at least 5 MiB (except the last), so shard outputs are buffered up to PART_BYTES
and sent as parts; a result under one part is a plain PUT. Memory: one part plus one chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

PART_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024


def concat_objects(
    s3: Any,
    bucket: str,
    sources: Iterable[str],
    dest: str,
    on_chunk: Callable[[bytes], None] | None = None,
) -> int:
    """Write the objects `sources`, in order, as `dest`; returns its size in bytes. Running it
    again overwrites `dest` with the same bytes. `on_chunk` sees every byte in order (a
    checksum on the way through)."""
    buffer = bytearray()
    parts: list[dict[str, Any]] = []
    upload_id: str | None = None
    size = 0
    try:
        for key in sources:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            for chunk in body.iter_chunks(CHUNK_BYTES):
                if on_chunk is not None:
                    on_chunk(chunk)
                buffer += chunk
                size += len(chunk)
                if len(buffer) >= PART_BYTES:
                    if upload_id is None:
                        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=dest)["UploadId"]
                    parts.append(_put_part(s3, bucket, dest, upload_id, len(parts) + 1, buffer))
                    buffer = bytearray()
        if upload_id is None:
            s3.put_object(Bucket=bucket, Key=dest, Body=bytes(buffer))
            return size
        if buffer:
            parts.append(_put_part(s3, bucket, dest, upload_id, len(parts) + 1, buffer))
        s3.complete_multipart_upload(
            Bucket=bucket, Key=dest, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return size
    except BaseException:
        if upload_id is not None:
            s3.abort_multipart_upload(Bucket=bucket, Key=dest, UploadId=upload_id)
        raise


def _put_part(
    s3: Any, bucket: str, key: str, upload_id: str, number: int, data: bytearray
) -> dict[str, Any]:
    etag = s3.upload_part(
        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(data)
    )["ETag"]
    return {"ETag": etag, "PartNumber": number}
