"""The service's version, as `GET /health` and `/openapi.json` report it.

pyproject.toml's `version` is the one to bump; this copy exists because the function ships
the `handler/` package alone (no pyproject.toml, and the project is never pip-installed, so
importlib.metadata cannot find it) and reading a file at cold start would cost for nothing.
tests/handler/test_version.py fails when this, pyproject.toml and CHANGELOG.md's newest
release disagree.
"""

VERSION = "0.3.0"
