"""Fixtures for the deployment tests: the tool venvs, the built stacks (both architectures),
and tables on the run's DynamoDB Local (tests/conftest.py) for the function running under the
Runtime Interface Emulator."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from handler.usage import store
from handler.usage.keys import KeyStore, Limits
from tests.deploy.deploy_support import DEV_KEY, REPO, FunctionStore, load_template
from tools.dynamodb_local import LOCAL_ENV, DynamoDBLocal


def make_quietly(target: str) -> None:
    """`make <target>` (layers/layers.mk): a no-op when its stamps are current, as they are
    under `make test`, which makes them before pytest starts."""
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", target], cwd=REPO, capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"make {target} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


@pytest.fixture(scope="session")
def deploy_tools() -> Path:
    """The tool venvs (sam, cfn-lint, checkov, the runtime client): enough for the template's
    validators and parsers, no `sam build`."""
    make_quietly("deploy-tools")
    return REPO / "build"


@pytest.fixture(scope="session")
def built(deploy_tools: Path) -> Path:
    """One `sam build` per architecture, each made once (stamped; see layers.mk)."""
    make_quietly("deploy-prereqs")
    return REPO / "build" / "sam"


@pytest.fixture(scope="session")
def template(deploy_tools: Path) -> dict[str, Any]:
    return load_template(REPO / "template.yaml")


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
