"""FastAPI, imported with the schemas of its own pydantic models left unbuilt until first use.

Importing FastAPI defines ~50 pydantic models of the OpenAPI document (fastapi.openapi.models,
reached through fastapi.params and fastapi.security, so no route choice avoids it), and pydantic
builds each model's validator as its class is defined: ~30-40 ms of a cold start's CPU
(`make bench`, cold_start section; docs/benchmarks.md) for models that only /openapi.json uses.
With pydantic's `defer_build` on while FastAPI is imported, each of those models builds on its
first use instead, with the same schema. The setting is restored at once, so every model of
ours and every route FastAPI builds later is built eagerly as before.

pydantic has no public switch for a default config, so this sets its private default; a
pydantic without it gets FastAPI imported as usual (slower, same behaviour), and
tests/handler/test_framework.py fails so that the upgrade is noticed.

Import this before anything imports fastapi: handler/app.py does, first.
"""

from __future__ import annotations

import sys


def import_fastapi_deferred() -> bool:
    """Import fastapi with its models' builds deferred; False if it was imported already or
    this pydantic has no default to set (then nothing is changed)."""
    if "fastapi" in sys.modules:
        return False
    try:
        from pydantic._internal._config import config_defaults
    except ImportError:  # pragma: no cover - a pydantic that moved it; the test says so
        return False
    saved = config_defaults.get("defer_build", False)
    config_defaults["defer_build"] = True
    try:
        import fastapi  # noqa: F401
    finally:
        config_defaults["defer_build"] = saved
    return True


DEFERRED = import_fastapi_deferred()
