"""A shard's parts in S3: each run of a shard answers a stretch of its lines as one part, an
output object, an error object and a manifest, all at deterministic keys (a rerun overwrites
them with the same bytes).

The manifest is written last, after both objects are durable, and holds what the shard's
checkpoint needs (where the part ends, its counts) and the part's usage records, so whoever
finds a part counted but not yet billed (a worker killed between the two) bills it from
here: usage is recorded only for lines whose answers are durable and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from handler.hooks import UsageRecord

OUTPUT, ERRORS = "output", "errors"


def part_key(batch_id: str, index: int, part: int, kind: str) -> str:
    return f"batches/{batch_id}/shards/{index:05d}/{part:04d}.{kind}.jsonl"


def manifest_key(batch_id: str, index: int, part: int) -> str:
    return f"batches/{batch_id}/shards/{index:05d}/{part:04d}.json"


@dataclass(frozen=True)
class Manifest:
    offset: int  # the first byte after the part's lines
    next_line: int  # the number of the line starting there
    completed: int
    failed: int
    records: list[UsageRecord]

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "offset": self.offset,
                "next_line": self.next_line,
                "completed": self.completed,
                "failed": self.failed,
                "records": [record.to_json() for record in self.records],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        values: dict[str, Any] = orjson.loads(data)
        records = [UsageRecord.from_json(record) for record in values["records"]]
        return cls(
            values["offset"], values["next_line"], values["completed"], values["failed"], records
        )


def write_manifest(s3: Any, bucket: str, batch_id: str, index: int, part: int, m: Manifest) -> None:
    s3.put_object(Bucket=bucket, Key=manifest_key(batch_id, index, part), Body=m.to_bytes())


def read_manifest(s3: Any, bucket: str, batch_id: str, index: int, part: int) -> Manifest:
    body = s3.get_object(Bucket=bucket, Key=manifest_key(batch_id, index, part))["Body"]
    return Manifest.from_bytes(body.read())
