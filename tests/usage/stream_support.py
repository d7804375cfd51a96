"""The Kinesis ledger's test parts: a stream on moto's server (real HTTP: there is no Kinesis
emulator offline), its records as Lambda's Kinesis event source delivers them, and a fault
that makes a put land while its caller sees a timeout (a lost response)."""

from __future__ import annotations

import uuid
from typing import Any

import urllib3
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from handler.usage.stream_drain import event_pages, shards_parents_first


def make_stream(kinesis: Any, shards: int = 1) -> str:
    name = "usage-ledger-" + uuid.uuid4().hex[:8]
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return name


def ledger_events(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """Every record so far as Lambda's Kinesis events: one per page of each shard, parents
    first (read as the operator's `count-stream` reads them)."""
    return [
        {"Records": page}
        for shard in shards_parents_first(kinesis, stream)
        for page in event_pages(kinesis, stream, shard)
    ]


class LostResponses:
    """On a botocore Kinesis client: the next `puts` PutRecord calls reach the stream (sent
    here over HTTP) but their caller gets a read timeout, as when a response is lost; with
    `landed=False` they time out on connect instead and reach nothing."""

    def __init__(self, client: Any, puts: int, landed: bool = True) -> None:
        self.left = puts
        self.landed = landed
        self.sent = 0
        client.meta.events.register("before-send.kinesis.PutRecord", self._before_send)

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> None:
        if self.left <= 0:
            return None
        self.left -= 1
        if not self.landed:
            raise ConnectTimeoutError(endpoint_url=request.url)
        with urllib3.PoolManager() as http:  # closed here: no socket left for the GC to find
            http.request(
                request.method, request.url, body=request.body, headers=dict(request.headers)
            )
        self.sent += 1
        raise ReadTimeoutError(endpoint_url=request.url)
