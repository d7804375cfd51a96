"""Write an S3 object from a stream of bytes with bounded memory: S3 multipart upload fed
from a buffer; and concatenate S3 objects into one that way.

Parts must be at least 5 MiB (except the last), so bytes are buffered up to PART_BYTES and
sent as parts; an object under one part is a plain PUT. Memory: one part plus what one
`write` brings. A writer that fails (or is left by an exception) aborts its upload, and the
bucket's lifecycle rule cleans up after a process that died mid-upload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

PART_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024


class S3Writer:
    """`with S3Writer(s3, bucket, key) as out: out.write(b"...")`; the object appears whole
    when the block ends without an exception (a rerun overwrites it), never in part."""

    def __init__(self, s3: Any, bucket: str, key: str) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.upload_id: str | None = None
        self.size = 0

    def write(self, data: bytes | bytearray) -> None:
        self.buffer += data
        self.size += len(data)
        if len(self.buffer) >= PART_BYTES:
            if self.upload_id is None:
                created = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key)
                self.upload_id = created["UploadId"]
            self._put_part()

    def _put_part(self) -> None:
        number = len(self.parts) + 1
        etag = self.s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=bytes(self.buffer),
        )["ETag"]
        self.parts.append({"ETag": etag, "PartNumber": number})
        self.buffer = bytearray()

    def close(self) -> int:
        """Complete the object; returns its size in bytes."""
        if self.upload_id is None:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            return self.size
        if self.buffer:
            self._put_part()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        return self.size

    def abort(self) -> None:
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
            self.upload_id = None

    def __enter__(self) -> S3Writer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            self.abort()
            raise


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
    with S3Writer(s3, bucket, dest) as out:
        for key in sources:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            for chunk in body.iter_chunks(CHUNK_BYTES):
                if on_chunk is not None:
                    on_chunk(chunk)
                out.write(chunk)
    return out.size
