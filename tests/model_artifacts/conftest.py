"""Fixtures for the model build's pieces (helpers in st_dirs.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.model_artifacts.st_dirs import write_st_dir


@pytest.fixture
def st_dir(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write_st_dir(...) into a fresh directory under tmp_path."""
    count = iter(range(1000))

    def make(**kwargs: Any) -> Path:
        return write_st_dir(tmp_path / f"st{next(count)}", **kwargs)

    return make
