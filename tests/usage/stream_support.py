"""The Kinesis ledger's test parts: a stream on moto's server (real HTTP: there is no Kinesis
emulator offline), its records as Lambda's Kinesis event source delivers them, and a fault
that makes a put land while its caller sees a timeout (a lost response)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import urllib3
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError


def make_stream(kinesis: Any, shards: int = 1) -> str:
    name = "usage-ledger-" + uuid.uuid4().hex[:8]
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return name


def ledger_events(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """One Lambda Kinesis event per shard with every record so far, in shard order."""
    events = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        shard_id = shard["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            if not page["Records"]:
                break
            records += [
                {
                    "eventSource": "aws:kinesis",
                    "eventName": "aws:kinesis:record",
                    "eventID": f"{shard_id}:{r['SequenceNumber']}",
                    "kinesis": {
                        "partitionKey": r["PartitionKey"],
                        "sequenceNumber": r["SequenceNumber"],
                        "data": base64.b64encode(r["Data"]).decode(),
                    },
                }
                for r in page["Records"]
            ]
            iterator = page.get("NextShardIterator")
        if records:
            events.append({"Records": records})
    return events


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
