"""The front door stays short and keeps the commands CI and newcomers rely on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_readme_is_at_most_12_kb_and_starts_with_make_serve_and_make_test() -> None:
    readme = (ROOT / "README.md").read_bytes()
    assert len(readme) <= 12 * 1024
    text = readme.decode()
    assert "make serve" in text and "make test" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_relative_link_of_the_readme_and_contributing_guide_exists() -> None:
    for name in ("README.md", "CONTRIBUTING.md"):
        text = (ROOT / name).read_text()
        targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
        local = [t for t in targets if "://" not in t]
        assert local, name
        missing = [t for t in local if not (ROOT / t).exists()]
        assert missing == [], f"{name} links to missing {missing}"
