"""Test helpers: the tables under test, and scripted faults for a real botocore client.

Faults are injected at the HTTP send.
Each attempt of the chosen operation takes the next step: "pass" sends it, "throttle" and
"500" answer as DynamoDB would without sending, "timeout" raises botocore's read timeout
without sending, and "commit_then_timeout" sends it (the write happens) and then loses the
response. botocore's own retry logic (standard mode) sees these exactly as real faults.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HeadersDict
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session


@dataclass
class Tables:
    client: Any
    keys: str
    usage: str


ERRORS = {
    "throttle": (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    "500": (500, "InternalServerError", "Internal server error"),
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class Faults:
    def __init__(self, client: Any, operation: str, steps: Iterable[str] = ()) -> None:
        self.steps = list(steps)
        self.attempts = 0
        self.sent = 0
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-send.{service}.{operation}", self._before_send)

    def plan(self, *steps: str) -> None:
        self.steps = list(steps)

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        step = self.steps.pop(0) if self.steps else "pass"
        if step == "pass":
            self.sent += 1
            return None
        if step in ERRORS:
            status, code, message = ERRORS[step]
            body = json.dumps(
                {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
            ).encode()
            headers = HeadersDict({"content-type": "application/x-amz-json-1.0"})
            return AWSResponse(request.url, status, headers, _Raw(body))  # type: ignore[arg-type]
        if step == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        if step == "commit_then_timeout":
            URLLib3Session().send(request)
            self.sent += 1
            raise ReadTimeoutError(endpoint_url=request.url)
        raise AssertionError(f"unknown fault step {step!r}")
