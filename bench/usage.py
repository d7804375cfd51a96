"""Auth + quota + usage-write overhead: the same request with usage on vs off (placeholder)."""

from __future__ import annotations

from typing import Any

from bench.config import Sizes


def overhead(sizes: Sizes, env: dict[str, str]) -> dict[str, Any]:
    return {"status": "unavailable", "reason": "handler/usage has not landed yet"}
