"""A shard's parts in S3: each run of a shard answers a stretch of its lines as one part, an
output object, an error object and a manifest, under the part's number and the id of the run
that wrote it (the shard's checkpoint lists the run whose part counts).

The manifest is written last, after both objects are durable, and holds what the shard's
checkpoint needs (where the part ends, its counts) and the part's usage record, so whoever
finds a part counted but not yet billed (a worker killed between the two) bills it from
here: usage is recorded only for lines whose answers are durable and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from handler.records import UsageRecord

OUTPUT, ERRORS = "output", "errors"


def part_name(number: int, run: str) -> str:
    """Part `number` as written by the run `run`: two runs of one shard at once (a duplicated
    message) write apart, and the checkpoint says which one counts."""
    return f"{number:04d}-{run}"


def part_key(batch_id: str, index: int, name: str, kind: str) -> str:
    return f"batches/{batch_id}/shards/{index:05d}/{name}.{kind}.jsonl"


def manifest_key(batch_id: str, index: int, name: str) -> str:
    return f"batches/{batch_id}/shards/{index:05d}/{name}.json"


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


def write_manifest(s3: Any, bucket: str, batch_id: str, index: int, name: str, m: Manifest) -> None:
    s3.put_object(Bucket=bucket, Key=manifest_key(batch_id, index, name), Body=m.to_bytes())


def read_manifest(s3: Any, bucket: str, batch_id: str, index: int, name: str) -> Manifest:
    body = s3.get_object(Bucket=bucket, Key=manifest_key(batch_id, index, name))["Body"]
    return Manifest.from_bytes(body.read())
