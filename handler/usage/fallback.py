"""The durable fallback for usage records DynamoDB would not take: an SQS queue.

`UsageQueue` is the interface the recorder and the replay use; `SqsUsageQueue` is the real
one (tests run it against moto's SQS, as there is no local SQS emulator offline).
"""

from __future__ import annotations

from typing import Protocol

from handler.usage.store import Client


class UsageQueue(Protocol):
    def send(self, body: str) -> None: ...

    def receive(self, max_messages: int, wait_seconds: int) -> list[tuple[str, str]]:
        """Up to `max_messages` (receipt handle, body) pairs."""
        ...

    def delete(self, receipt: str) -> None: ...


class SqsUsageQueue:
    def __init__(self, client: Client, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def send(self, body: str) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def receive(self, max_messages: int, wait_seconds: int) -> list[tuple[str, str]]:
        response = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, max_messages),
            WaitTimeSeconds=wait_seconds,
        )
        return [(m["ReceiptHandle"], m["Body"]) for m in response.get("Messages", [])]

    def delete(self, receipt: str) -> None:
        self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
