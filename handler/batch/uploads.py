"""UploadStore: OpenAI's Uploads API (a file sent in parts) on S3 and the batch table.

A request body is at most 6 MB on Lambda (and API Gateway base64-encodes a multipart body, so
a part's bytes are at most ~4.5 MB), below S3's 5 MiB minimum for a multipart part. So each
client part is its own S3 object, and completing concatenates the parts named, in the order
named, into the file's object through an S3 multipart upload of 8 MiB parts
(handler/batch/concat.py): memory is one S3 part, and the md5 is computed on the way.

    pk                  sk               what
    upload#<upload id>  meta             owner, bytes declared, filename, purpose, mime type,
                                         state, expiry, bytes and parts received, its file
    upload#<upload id>  part#<part id>   a part: its size and S3 key

The attribute is `state`, not `status`: `status` is for batch items alone (the batch expiry
sweep indexes it). Part objects live under `uploads/<owner>/<upload id>/` and are deleted when
the upload is completed or cancelled; those of an upload left to expire go with the bucket's
lifecycle rule for `uploads/`.
Failure policy: S3 and DynamoDB errors propagate (the route answers 500); a part whose object
cannot be written gives its reserved bytes back.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from handler.batch import table
from handler.batch.concat import concat_objects
from handler.batch.files import FileStore, StoredFile, new_file_id
from handler.batch.items import from_item, to_item

META = "meta"
# What S3 answers a GET of a deleted object: NoSuchKey, or AccessDenied when the caller may not
# s3:ListBucket (template.yaml grants it; older stacks may lack it).
MISSING_OBJECT_CODES = ("NoSuchKey", "AccessDenied")
# Upload and part items carry DynamoDB's TTL: an upload's hour, then this long for a retried
# complete (and a look at what became of it) before they go.
ITEM_SECONDS = 7 * 86400
PENDING, COMPLETED, CANCELLED, EXPIRED = "pending", "completed", "cancelled", "expired"


def upload_pk(upload_id: str) -> str:
    return f"upload#{upload_id}"


def part_sk(part_id: str) -> str:
    return f"part#{part_id}"


@dataclass(frozen=True)
class Upload:
    id: str
    owner: str
    bytes: int
    filename: str
    purpose: str
    mime_type: str
    created_at: int
    expires_at: int
    stored_status: str  # what the table says; `status` adds expiry
    received: int
    part_count: int
    file_id: str | None
    completion: str | None  # digest of the completing request, to answer its retry alike

    def status(self, now: float) -> str:
        return (
            EXPIRED
            if self.stored_status == PENDING and now >= self.expires_at
            else (self.stored_status)
        )


@dataclass(frozen=True)
class Part:
    id: str
    upload_id: str
    created_at: int
    size: int
    s3_key: str


class PartRefused(Exception):
    """A part that cannot be added: `reason` is "status", "bytes" or "parts"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _upload(values: dict[str, Any]) -> Upload:
    return Upload(
        id=values["id"],
        owner=values["owner"],
        bytes=values["bytes"],
        filename=unquote(values["filename"]),
        purpose=values["purpose"],
        mime_type=values["mime_type"],
        created_at=values["created_at"],
        expires_at=values["expires_at"],
        stored_status=values["state"],
        received=values["received"],
        part_count=values["part_count"],
        file_id=values.get("file_id"),
        completion=values.get("completion"),
    )


def completion_digest(part_ids: list[str], md5: str | None) -> str:
    return hashlib.sha256("\n".join([*part_ids, md5 or ""]).encode()).hexdigest()


class UploadStore:
    def __init__(self, files: FileStore, max_parts: int, lifetime_seconds: int) -> None:
        self.files = files
        self.s3 = files.s3
        self.dynamodb = files.dynamodb
        self.bucket = files.bucket
        self.table = files.table
        self.max_parts = max_parts
        self.lifetime = lifetime_seconds

    def _key(self, upload_id: str, sk: str) -> dict[str, Any]:
        return to_item({"pk": upload_pk(upload_id), "sk": sk})

    def create(self, owner: str, size: int, filename: str, purpose: str, mime_type: str) -> Upload:
        now = int(time.time())
        upload_id = "upload_" + uuid.uuid4().hex[:24]
        values: dict[str, Any] = {
            "pk": upload_pk(upload_id),
            "sk": META,
            "id": upload_id,
            "owner": owner,
            "bytes": size,
            "filename": quote(filename, safe=" ._-()[]"),
            "purpose": purpose,
            "mime_type": mime_type,
            "created_at": now,
            "expires_at": now + self.lifetime,
            "state": PENDING,
            "received": 0,
            "part_count": 0,
            # listed by owner (the owner index), to count a key's open uploads
            "owner_kind": table.owner_kind(owner, "upload"),
            "created": table.created_key(upload_id),
            table.TTL_ATTRIBUTE: now + self.lifetime + ITEM_SECONDS,
        }
        self.dynamodb.put_item(TableName=self.table, Item=to_item(values))
        return _upload(values)

    def open_uploads(self, owner: str) -> list[Upload]:
        """`owner`'s uploads still pending and not expired (created within one lifetime)."""
        now = time.time()
        since = int((now - self.lifetime) * 1_000_000)
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": table.OWNER_INDEX,
            "KeyConditionExpression": "owner_kind = :o AND created >= :since",
            "ExpressionAttributeValues": to_item(
                {":o": table.owner_kind(owner, "upload"), ":since": f"{since:016d}"}
            ),
        }
        found: list[Upload] = []
        while True:
            page = self.dynamodb.query(**query)
            uploads = (_upload(item) for item in map(from_item, page["Items"]))
            found.extend(u for u in uploads if u.status(now) == PENDING)
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, owner: str, upload_id: str) -> Upload | None:
        """The upload if it exists and `owner` owns it; None otherwise (the route's 404)."""
        found = self.dynamodb.get_item(
            TableName=self.table, Key=self._key(upload_id, META), ConsistentRead=True
        ).get("Item")
        if found is None:
            return None
        upload = _upload(from_item(found))
        return upload if upload.owner == owner else None

    def add_part(self, upload: Upload, stream: IO[bytes], size: int) -> Part:
        """Store `size` bytes from `stream` as a part; raises PartRefused when the upload is
        not pending (or has expired), would exceed its declared bytes, or has max_parts."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(upload.id, META),
                UpdateExpression="ADD received :n, part_count :one",
                ConditionExpression=(
                    "#s = :pending AND expires_at > :now AND received <= :room "
                    "AND part_count < :max"
                ),
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=to_item(
                    {
                        ":n": size,
                        ":one": 1,
                        ":pending": PENDING,
                        ":now": int(time.time()),
                        ":room": upload.bytes - size,
                        ":max": self.max_parts,
                    }
                ),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise PartRefused(self._refusal(upload, size)) from None
        part_id = "part_" + uuid.uuid4().hex[:24]
        key = f"uploads/{quote(upload.owner, safe='')}/{upload.id}/{part_id}"
        try:
            self.s3.upload_fileobj(stream, self.bucket, key)
            part = Part(part_id, upload.id, int(time.time()), size, key)
            item: dict[str, Any] = {"pk": upload_pk(upload.id), "sk": part_sk(part_id)}
            item |= {"id": part_id, "created_at": part.created_at, "size": size, "s3_key": key}
            item[table.TTL_ATTRIBUTE] = upload.expires_at + ITEM_SECONDS
            self.dynamodb.put_item(TableName=self.table, Item=to_item(item))
        except BaseException:
            self._release(upload.id, size)
            raise
        return part

    def _refusal(self, upload: Upload, size: int) -> str:
        now = self.get(upload.owner, upload.id) or upload
        if now.status(time.time()) != PENDING:
            return "status"
        return "bytes" if now.received + size > now.bytes else "parts"

    def _release(self, upload_id: str, size: int) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(upload_id, META),
            UpdateExpression="ADD received :n, part_count :one",
            ExpressionAttributeValues=to_item({":n": -size, ":one": -1}),
        )

    def parts(self, upload_id: str) -> dict[str, Part]:
        """Every part stored for the upload, by id."""
        found: dict[str, Part] = {}
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :part)",
            "ExpressionAttributeValues": to_item({":pk": upload_pk(upload_id), ":part": "part#"}),
            "ConsistentRead": True,
        }
        while True:
            page = self.dynamodb.query(**query)
            for item in map(from_item, page["Items"]):
                found[item["id"]] = Part(
                    item["id"], upload_id, item["created_at"], item["size"], item["s3_key"]
                )
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def assemble(self, upload: Upload, parts: list[Part]) -> tuple[StoredFile, str]:
        """Concatenate `parts` in order into a new file of the upload's owner; returns the
        file and the hex md5 of its bytes. The file is not yet the upload's (see `complete`).
        Raises PartRefused("status") when a part's object is gone (completed or cancelled
        meanwhile)."""
        file_id = new_file_id()
        key = self.files.object_key(upload.owner, file_id)
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            size = concat_objects(self.s3, self.bucket, [p.s3_key for p in parts], key, md5.update)
        except ClientError as exc:
            # A concurrent completion or cancellation deleted the parts' objects. S3 says
            # NoSuchKey, or AccessDenied to a role without s3:ListBucket: then the upload's
            # own state tells the race from a real permission error (which stays a 500).
            if exc.response["Error"]["Code"] not in MISSING_OBJECT_CODES:
                raise
            now = self.get(upload.owner, upload.id)
            if now is not None and now.status(time.time()) == PENDING:
                raise
            raise PartRefused("status") from None
        stored = self.files.record(
            upload.owner, file_id, key, size, upload.filename, upload.purpose
        )
        return stored, md5.hexdigest()

    def complete(self, upload: Upload, stored: StoredFile, completion: str) -> bool:
        """Make `stored` the upload's file, if the upload is still pending; False otherwise."""
        return self._transition(
            upload.id,
            COMPLETED,
            {":file": stored.id, ":completion": completion},
            ", file_id = :file, completion = :completion",
        )

    def cancel(self, upload: Upload) -> bool:
        """Cancel the upload if it is still pending; False otherwise."""
        return self._transition(upload.id, CANCELLED, {}, "")

    def _transition(self, upload_id: str, status: str, values: dict[str, Any], extra: str) -> bool:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(upload_id, META),
                UpdateExpression="SET #s = :to" + extra,
                ConditionExpression="#s = :pending AND expires_at > :now",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=to_item(
                    {":to": status, ":pending": PENDING, ":now": int(time.time()), **values}
                ),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def discard(self, stored: StoredFile) -> None:
        """Remove a file assembled for a completion that did not win."""
        self.files.delete(stored.owner, stored.id)

    def drop_part_objects(self, parts: list[Part]) -> None:
        """Delete the parts' objects (their items stay: a few bytes each, and the record of
        what the upload held)."""
        keys = [p.s3_key for p in parts]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys a call
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})


def upload_object(upload: Upload, file: dict[str, Any] | None, now: float) -> dict[str, Any]:
    """OpenAI's Upload object; `file` is the File object once completed."""
    return {
        "id": upload.id,
        "object": "upload",
        "bytes": upload.bytes,
        "created_at": upload.created_at,
        "expires_at": upload.expires_at,
        "filename": upload.filename,
        "purpose": upload.purpose,
        "status": upload.status(now),
        "file": file,
    }


def part_object(part: Part) -> dict[str, Any]:
    return {
        "id": part.id,
        "object": "upload.part",
        "created_at": part.created_at,
        "upload_id": part.upload_id,
    }
