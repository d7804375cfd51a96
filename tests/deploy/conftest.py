"""Fixtures for the deployment tests: the built stacks (both architectures), the tool venvs
and DynamoDB Local for the function running under the Runtime Interface Emulator."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_support import DEV_KEY, REPO, FunctionStore, load_template

from handler.usage import store
from handler.usage.keys import KeyStore, Limits
from tools.dynamodb_local import LOCAL_ENV, DynamoDBLocal


@pytest.fixture(scope="session")
def built() -> Path:
    """`make deploy-prereqs`: a no-op when the stamped builds are current (see layers.mk)."""
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "deploy-prereqs"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(f"make deploy-prereqs failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return REPO / "build" / "sam"


@pytest.fixture(scope="session")
def template(built: Path) -> dict[str, Any]:
    return load_template(REPO / "template.yaml")


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    with DynamoDBLocal() as ddb:
        yield ddb


@pytest.fixture(scope="module")
def function_store(dynamodb_local: DynamoDBLocal) -> FunctionStore:
    """Fresh tables on DynamoDB Local holding the fixtures' key (with quotas, so the quota
    path runs too), and the environment that points the function at them."""
    client = dynamodb_local.client("dynamodb")
    suffix = uuid.uuid4().hex[:8]
    keys_table, usage_table = f"keys-{suffix}", f"usage-{suffix}"
    store.create_tables(client, keys_table, usage_table)
    KeyStore(client, keys_table).create(
        "deploy test", Limits(rpm=10_000, tpm=10_000_000), secret=DEV_KEY
    )
    env = {
        **LOCAL_ENV,
        "AWS_REGION": LOCAL_ENV["AWS_DEFAULT_REGION"],  # Lambda sets both
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local.endpoint_url,
        "KEYS_TABLE": keys_table,
        "USAGE_TABLE": usage_table,
        "AUTH_ENABLED": "true",
        "MODEL_ALIASES": "text-embedding-3-small",
    }
    return FunctionStore(env, client, keys_table, usage_table)
