"""One version: pyproject.toml's, repeated for the function and named by the changelog."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from handler.version import VERSION

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_handler_and_changelog_name_the_same_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == VERSION
    releases = re.findall(
        r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", (ROOT / "CHANGELOG.md").read_text(), re.M
    )
    assert releases and releases[0] == VERSION, releases
