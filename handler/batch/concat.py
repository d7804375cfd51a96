"""Write an S3 object from a stream of bytes with bounded memory: S3 multipart upload fed
from a buffer; and concatenate S3 objects into one that way.

Parts must be at least 5 MiB (except the last), so bytes are buffered up to PART_BYTES and
sent as parts; an object under one part is a plain PUT. Memory: one part plus what one
`write` brings (two parts when `overlap`: one uploading, one filling). A writer that fails
(or is left by an exception) aborts its upload, and the bucket's lifecycle rule cleans up
after a process that died mid-upload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

PART_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part, but for the last
# One UploadPartCopy: a step of bounded time (S3 copies it server-side) that resumable
# finalization (handler/batch/assembly.py) can check the clock between.
COPY_PART_BYTES = 512 * 1024 * 1024


class S3Writer:
    """`with S3Writer(s3, bucket, key) as out: out.write(b"...")`; the object appears whole
    when the block ends without an exception (a rerun overwrites it), never in part."""

    def __init__(self, s3: Any, bucket: str, key: str, overlap: bool = False) -> None:
        """`overlap`: a full part uploads on a thread while the caller writes on (a shard's
        next lines embed meanwhile, instead of waiting for S3); one part in flight at most,
        and its failure raises at the next part or at close, so the object still appears
        whole or not at all. Off for resumable assembly, which saves `parts` between steps."""
        self.s3, self.bucket, self.key = s3, bucket, key
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.upload_id: str | None = None
        self.size = 0
        self._pool = ThreadPoolExecutor(max_workers=1) if overlap else None
        self._pending: tuple[int, Future[Any]] | None = None

    def write(self, data: bytes | bytearray) -> None:
        self.buffer += data
        self.size += len(data)
        if len(self.buffer) >= PART_BYTES:
            self._start()
            self._put_part()

    def _start(self) -> None:
        if self.upload_id is None:
            created = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            self.upload_id = created["UploadId"]

    def copy(self, key: str, size: int) -> None:
        """Append the object `key` (`size` bytes, in the same bucket), its large stretches by
        server-side copy (UploadPartCopy), so those bytes never pass through this process."""
        at = 0
        while at < size:
            at = self.append_step(key, size, at)

    def append_step(self, key: str, size: int, at: int) -> int:
        """Append a bounded stretch of the object `key` from byte `at`: one UploadPartCopy of
        at most COPY_PART_BYTES (after reading what tops the buffer up to S3's 5 MiB part
        minimum) when at least MIN_PART_BYTES would be copied, else at most PART_BYTES read
        into the buffer. Returns the byte it got to."""
        top = MIN_PART_BYTES - len(self.buffer) if 0 < len(self.buffer) < MIN_PART_BYTES else 0
        if size - at - top < MIN_PART_BYTES:
            end = min(size, at + PART_BYTES)
            self._read_into_buffer(key, at, end)
            return end
        if top:
            self._read_into_buffer(key, at, at + top)
            at += top
        self._start()
        if self.buffer:
            self._put_part()
        self._drain()
        end = min(size, at + COPY_PART_BYTES)
        if size - end < MIN_PART_BYTES:
            end = size  # no remainder under S3's minimum
        number = len(self.parts) + 1
        copied = self.s3.upload_part_copy(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            CopySource={"Bucket": self.bucket, "Key": key},
            CopySourceRange=f"bytes={at}-{end - 1}",
        )
        self.parts.append({"ETag": copied["CopyPartResult"]["ETag"], "PartNumber": number})
        self.size += end - at
        return end

    def _read_into_buffer(self, key: str, start: int, end: int) -> None:
        body = self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
        for chunk in body["Body"].iter_chunks(CHUNK_BYTES):
            self.write(chunk)

    def _put_part(self) -> None:
        self._drain()  # the part before this one is in `parts` first: numbers stay in order
        number = len(self.parts) + 1
        upload = {
            "Bucket": self.bucket,
            "Key": self.key,
            "UploadId": self.upload_id,
            "PartNumber": number,
            "Body": bytes(self.buffer),
        }
        self.buffer = bytearray()
        if self._pool is None:
            self.parts.append({"ETag": self.s3.upload_part(**upload)["ETag"], "PartNumber": number})
        else:
            self._pending = (number, self._pool.submit(self.s3.upload_part, **upload))

    def _drain(self) -> None:
        """Wait for the part in flight and record it; raises what its upload raised."""
        if self._pending is None:
            return
        number, future = self._pending
        self._pending = None
        self.parts.append({"ETag": future.result()["ETag"], "PartNumber": number})

    def close(self) -> int:
        """Complete the object; returns its size in bytes."""
        if self.upload_id is None:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            self._stop()
            return self.size
        if self.buffer:
            self._put_part()
        self._drain()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        self._stop()
        return self.size

    def abort(self) -> None:
        if self._pending is not None:  # let it land first, or it would outlive the abort
            self._pending[1].exception()
            self._pending = None
        self._stop()
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
            self.upload_id = None

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

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
    checksum on the way through); without it, a source of at least MIN_PART_BYTES is copied
    by S3 (UploadPartCopy), so the bytes read here are bounded by the small sources, and the
    parts by S3's 10,000 (a part per large source, 8 MiB parts of the small ones)."""
    with S3Writer(s3, bucket, dest) as out:
        for key in sources:
            if on_chunk is None:
                size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
                if size >= 2 * MIN_PART_BYTES:  # worth a copy even after a top-up
                    out.copy(key, size)
                    continue
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            for chunk in body.iter_chunks(CHUNK_BYTES):
                if on_chunk is not None:
                    on_chunk(chunk)
                out.write(chunk)
    return out.size
