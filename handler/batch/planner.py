"""Split a batch input file into shards by streaming its lines once.

A shard is a byte range holding up to `lines_per_shard` non-blank lines and about
SHARD_BYTES, with the 1-based number of its first line, so a worker reads just its range (an
S3 ranged GET) and numbers its lines as the file does. Only one chunk of the file, and one
line of at most `max_line_bytes`, is in memory at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from handler.batch.batches import Shard
from handler.batch.jsonl import split_lines

MAX_REQUESTS = 50_000  # OpenAI's limit per batch
# ...and of embedding inputs across all of an /v1/embeddings batch's requests (OpenAI's
# BatchCreateParams.endpoint): a batch of 50,000 lines of 2,048 inputs would be 100M inputs.
MAX_EMBEDDING_INPUTS = 50_000
# A shard is cut once it holds this many bytes, whatever its line count: its ranged GET and
# its lines' parsing stay bounded (a shard of 500 lines near MAX_BODY_BYTES would be 3 GB).
SHARD_BYTES = 8 * 1024 * 1024


class PlanError(ValueError):
    """The file cannot become a batch; `code` is OpenAI's batch error code, `line` and
    `param` (OpenAI's BatchError fields) where the file went wrong, when one line did."""

    def __init__(
        self, code: str, message: str, line: int | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.param = param


@dataclass(frozen=True)
class Plan:
    shards: list[Shard]
    total: int  # non-blank lines: the batch's requests


def _inputs(body: object) -> int:
    """The embedding inputs of a request body as the route counts them: a string or one
    token array is one, a list of either is its length; 0 for what is not a request (the
    worker gives that line its error)."""
    given = body.get("input") if isinstance(body, dict) else None
    if isinstance(given, str):
        return 1
    if isinstance(given, list) and given:
        return 1 if all(isinstance(x, int) for x in given) else len(given)
    return 0


def _request(line: bytes) -> tuple[str | None, int]:
    """The line's custom_id (None when the line is not a request: the worker reports it)
    and its embedding inputs."""
    try:
        request = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, 0
    if not isinstance(request, dict):
        return None, 0
    custom_id = request.get("custom_id")
    return (custom_id if isinstance(custom_id, str) else None), _inputs(request.get("body"))


def plan_shards(
    batch_id: str,
    chunks: Iterable[bytes],
    lines_per_shard: int,
    max_line_bytes: int,
    shard_bytes: int = SHARD_BYTES,
) -> Plan:
    """The shards of the file read as `chunks`; raises PlanError for an empty file, one with
    more than MAX_REQUESTS requests or MAX_EMBEDDING_INPUTS inputs, or a custom_id used
    twice (as OpenAI fails such a batch: results are matched to requests by it). A line
    over `max_line_bytes` is not parsed (the worker gives it its error line); a shard ends
    at `lines_per_shard` lines or once it holds `shard_bytes`."""
    seen: set[bytes] = set()  # digests, so 50,000 long ids stay a few MB
    shards: list[Shard] = []
    total = inputs = 0
    start = first_line = in_shard = 0  # the open shard: where it starts, its lines
    end, next_line = 0, 1
    for line in split_lines(chunks, max_line_bytes=max_line_bytes, file_start=True):
        if in_shard == 0:
            start, first_line = end, next_line
        end, next_line = line.end, line.number + 1
        total += 1
        in_shard += 1
        if total > MAX_REQUESTS:
            raise PlanError(
                "too_many_requests",
                f"The batch input file has more than the maximum of {MAX_REQUESTS} requests.",
                line.number,
            )
        custom_id, count = _request(line.raw) if line.size <= max_line_bytes else (None, 0)
        inputs += count
        if inputs > MAX_EMBEDDING_INPUTS:
            raise PlanError(
                "too_many_inputs",
                f"Line {line.number}: the batch's requests hold more than the maximum of "
                f"{MAX_EMBEDDING_INPUTS} embedding inputs across all requests of a batch.",
                line.number,
                "body.input",
            )
        if custom_id is not None:
            digest = hashlib.blake2b(custom_id.encode(), digest_size=16).digest()
            if digest in seen:
                raise PlanError(
                    "duplicate_custom_id",
                    f"Line {line.number}: the custom_id {custom_id[:64]!r} is used more than once; "
                    "each request's custom_id must be unique.",
                    line.number,
                    "custom_id",
                )
            seen.add(digest)
        if in_shard == lines_per_shard or end - start >= shard_bytes:
            shards.append(Shard(batch_id, len(shards) + 1, start, end, first_line))
            in_shard = 0
    if in_shard:
        shards.append(Shard(batch_id, len(shards) + 1, start, end, first_line))
    if total == 0:
        raise PlanError("empty_file", "The batch input file is empty.")
    return Plan(shards, total)
