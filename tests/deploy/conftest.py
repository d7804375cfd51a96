"""Fixtures for the deployment tests: the built stacks (both architectures), the tool venvs
and DynamoDB Local for the function running under the Runtime Interface Emulator."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_support import REPO, load_template

from tools.dynamodb_local import DynamoDBLocal


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
