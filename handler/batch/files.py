"""FileStore: files as S3 objects under their owner's prefix, described by DynamoDB items.

Uploads and downloads stream: an upload goes to S3 from a file object in parts
(boto3's managed transfer), content comes back as S3's body read in chunks. Failure policy:
S3 or DynamoDB errors propagate (the route answers 500); an upload whose item cannot be
written leaves an orphan object, which the bucket's lifecycle rule expires.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, unquote

from handler.batch import table
from handler.batch.items import from_item, to_item

PURPOSE_BATCH = "batch"
PURPOSE_OUTPUT = "batch_output"
CHUNK_BYTES = 1024 * 1024


def new_file_id() -> str:
    return "file-" + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class StoredFile:
    id: str
    owner: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    s3_key: str
    created: str  # the listing's sort key (table.created_key)
    expires_at: int | None = None  # when the bucket's lifecycle may delete the object


def _stored(values: dict[str, Any]) -> StoredFile:
    return StoredFile(
        id=values["id"],
        owner=values["owner"],
        bytes=values["bytes"],
        created_at=values["created_at"],
        filename=unquote(values["filename"]),
        purpose=values["purpose"],
        s3_key=values["s3_key"],
        created=values["created"],
        expires_at=values.get("expires_at"),  # items written before retention: None
    )


class FileStore:
    """Files: objects under files/ in the bucket, items in the batch table.

    `retention_seconds` mirrors the bucket's lifecycle rule on files/ (template.yaml's
    BatchFileRetentionDays): a file is gone (404, unlisted) from its `expires_at` on, before
    S3 deletes the object (S3 rounds the rule up to a midnight), and DynamoDB's TTL removes
    its item later through the `ttl` attribute."""

    def __init__(
        self,
        s3: Any,
        dynamodb: Any,
        bucket: str,
        table_name: str,
        retention_seconds: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s3 = s3
        self.dynamodb = dynamodb
        self.bucket = bucket
        self.table = table_name
        self.retention_seconds = retention_seconds
        self.clock = clock

    def _live(self, stored: StoredFile) -> bool:
        return stored.expires_at is None or self.clock() < stored.expires_at

    @staticmethod
    def object_key(owner: str, file_id: str) -> str:
        return f"files/{quote(owner, safe='')}/{file_id}"

    def upload(self, owner: str, stream: IO[bytes], filename: str, purpose: str) -> StoredFile:
        """Stream `stream` to S3 and record it; returns the stored file."""
        file_id = new_file_id()
        key = self.object_key(owner, file_id)
        self.s3.upload_fileobj(stream, self.bucket, key)
        size = int(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        return self.record(owner, file_id, key, size, filename, purpose)

    def record(
        self,
        owner: str,
        file_id: str,
        key: str,
        size: int,
        filename: str,
        purpose: str,
        expires_after: int | None = None,
    ) -> StoredFile:
        """Write the item describing the object at `key` (overwriting: a finalizer that runs
        twice writes the same item twice). `expires_after`: the file's own life in seconds
        (a batch's output_expires_after); the bucket's retention still ends it if sooner."""
        created_at = int(self.clock())
        lives = [s for s in (self.retention_seconds, expires_after) if s is not None]
        expires_at = created_at + min(lives) if lives else None
        values = {
            "pk": table.file_pk(file_id),
            "sk": table.META,
            "id": file_id,
            "owner": owner,
            "owner_kind": table.owner_kind(owner, "file"),
            "created": table.created_key(file_id),
            "bytes": size,
            "created_at": created_at,
            "filename": quote(filename, safe=" ._-()[]"),
            "purpose": purpose,
            "s3_key": key,
            "expires_at": expires_at,
            table.TTL_ATTRIBUTE: expires_at,
        }
        self.dynamodb.put_item(TableName=self.table, Item=to_item(values))
        return _stored(values)

    def get(self, owner: str, file_id: str) -> StoredFile | None:
        """The file if it exists and `owner` owns it; None otherwise (the route's 404)."""
        found = self.dynamodb.get_item(
            TableName=self.table,
            Key=to_item({"pk": table.file_pk(file_id), "sk": table.META}),
            ConsistentRead=True,
        ).get("Item")
        if found is None:
            return None
        stored = _stored(from_item(found))
        return stored if stored.owner == owner and self._live(stored) else None

    def page(
        self, owner: str, limit: int, after: str | None, purpose: str | None, ascending: bool
    ) -> tuple[list[StoredFile], bool]:
        """Up to `limit` of `owner`'s files after the file id `after`, and whether more follow."""
        anchor = None
        if after is not None:
            stored = self.get(owner, after)
            if stored is None:
                return [], False
            anchor = {
                "pk": table.file_pk(stored.id),
                "sk": table.META,
                "owner_kind": table.owner_kind(owner, "file"),
                "created": stored.created,
            }
        items, more = table.owner_page(
            self.dynamodb,
            self.table,
            owner,
            "file",
            limit,
            anchor,
            ascending,
            keep=lambda item: (
                (purpose is None or item["purpose"] == purpose) and self._live(_stored(item))
            ),
        )
        return [_stored(item) for item in items], more

    def stored_bytes(self, owner: str) -> int:
        """The bytes of `owner`'s live files (one Query of the owner index, paged)."""
        total = 0
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": table.OWNER_INDEX,
            "KeyConditionExpression": "owner_kind = :o",
            "ProjectionExpression": "#b, expires_at",
            "ExpressionAttributeNames": {"#b": "bytes"},
            "ExpressionAttributeValues": to_item({":o": table.owner_kind(owner, "file")}),
        }
        now = self.clock()
        while True:
            page = self.dynamodb.query(**query)
            for item in map(from_item, page["Items"]):
                if item.get("expires_at") is None or now < item["expires_at"]:
                    total += int(item.get("bytes", 0))
            if "LastEvaluatedKey" not in page:
                return total
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete(self, owner: str, file_id: str) -> bool:
        """Delete the object and its item; False when there was no such file of `owner`."""
        stored = self.get(owner, file_id)
        if stored is None:
            return False
        self.s3.delete_object(Bucket=self.bucket, Key=stored.s3_key)
        self.dynamodb.delete_item(
            TableName=self.table, Key=to_item({"pk": table.file_pk(file_id), "sk": table.META})
        )
        return True

    def content(self, stored: StoredFile) -> Iterator[bytes]:
        """The object's bytes in chunks of CHUNK_BYTES, read as they are sent."""
        body = self.s3.get_object(Bucket=self.bucket, Key=stored.s3_key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    def download_url(self, stored: StoredFile, seconds: int) -> str:
        """A presigned GET of the object, valid for `seconds` (or less: no longer than the
        credentials that sign it). Signed for the client's endpoint (AWS_ENDPOINT_URL_S3
        locally), computed without a request to S3."""
        url: str = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": stored.s3_key}, ExpiresIn=seconds
        )
        return url

    def read_range(self, key: str, start: int, end: int) -> Any:
        """S3's streaming body for bytes [start, end) of the object at `key`."""
        return self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")[
            "Body"
        ]
