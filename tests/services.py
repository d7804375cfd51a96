"""One DynamoDB Local and one moto server per run, with or without pytest-xdist: the session
fixtures `dynamodb_local` and `moto_server` (a pytest plugin, loaded by tests/conftest.py).

Without xdist, each session fixture starts its service on first use. Under `-n N` each worker
is a session of its own, so that would start N JVMs: instead the controller starts both
services once before the workers exist (when the selection can hold integration tests) and
hands their ports to the workers, whose fixtures then attach to them. Every test makes its own
tables, bucket and queue under a random name, so workers never share state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tools.dynamodb_local import DynamoDBLocal
from tools.local_service import LocalService, LocalServiceError
from tools.moto_server import MotoServer

SERVICES: dict[str, type[LocalService]] = {
    "dynamodb_local": DynamoDBLocal,
    "moto_server": MotoServer,
}
_started = ExitStack()
_ports: dict[str, int] = {}


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", 0))


def _may_need_services(config: pytest.Config) -> bool:
    """False only when a -m expression leaves the integration tier out (the only tier that may
    use them: tests/tiers.py)."""
    expression = config.getoption("markexpr", "") or ""
    return not expression or "integration" in expression


@pytest.hookimpl(tryfirst=True)  # before xdist's own starts the workers
def pytest_sessionstart(session: pytest.Session) -> None:
    if _is_xdist_controller(session.config) and _may_need_services(session.config):
        for name, service in SERVICES.items():
            try:
                _ports[name] = _started.enter_context(service()).port
            except LocalServiceError:
                pass  # each worker's fixture tries again: the tests that need it fail, not the run


@pytest.hookimpl(trylast=True)  # after the workers are gone
def pytest_sessionfinish() -> None:
    _started.close()


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown (and never called) without it
def pytest_configure_node(node: Any) -> None:
    node.workerinput.update({f"service_port_{name}": port for name, port in _ports.items()})


def _service(config: pytest.Config, name: str) -> Iterator[Any]:
    """The controller's service if it handed one over, else one started for this session."""
    port = getattr(config, "workerinput", {}).get(f"service_port_{name}")
    if port is not None:
        attached = SERVICES[name](port=port)
        yield attached
        attached.stop()  # this one never started the process: this only closes its log file
        return
    with SERVICES[name]() as service:
        yield service


@pytest.fixture(scope="session")
def dynamodb_local(request: pytest.FixtureRequest) -> Iterator[DynamoDBLocal]:
    """DynamoDB Local (installed into build/ on first use); each test makes its own tables,
    with a random suffix."""
    yield from _service(request.config, "dynamodb_local")


@pytest.fixture(scope="session")
def moto_server(request: pytest.FixtureRequest) -> Iterator[MotoServer]:
    """moto's server (S3, SQS); each test makes its own bucket and queue."""
    yield from _service(request.config, "moto_server")
