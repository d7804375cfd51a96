"""The three test tiers, enforced (a pytest plugin, loaded by tests/conftest.py).

Every test carries exactly one tier marker, and what it may reach is checked while it runs:
- unit: no network and no subprocess (moto's in-memory mocks are fine: they never open a
  socket);
- functional: in process: no subprocess, no socket beyond loopback, none of the
  out-of-process services below;
- integration: real parts out of process: DynamoDB Local (the JVM), moto's server, the SAM
  build and its tools, the Runtime Interface Emulator, real clients over HTTP.
`make test-unit` runs the first two tiers, `make test-integration` the third; a test without
a tier would silently fall out of both, so collection fails instead.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

TIERS = ("unit", "functional", "integration")
# Fixtures that start or need a process outside the test process.
OUT_OF_PROCESS = {"dynamodb_local", "moto_server", "built", "deploy_tools"}
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def tier_of(item: pytest.Item) -> list[str]:
    return [tier for tier in TIERS if item.get_closest_marker(tier) is not None]


@pytest.hookimpl(tryfirst=True)  # before -m deselects: an untiered test must not just vanish
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    wrong = [
        f"{item.nodeid}: {tier_of(item) or 'none'}" for item in items if len(tier_of(item)) != 1
    ]
    if wrong:
        raise pytest.UsageError(
            "every test needs exactly one tier marker (unit, functional or integration; see "
            "tests/tiers.py):\n  " + "\n  ".join(wrong)
        )
    for item in items:
        reached = OUT_OF_PROCESS.intersection(getattr(item, "fixturenames", ()))
        if reached and tier_of(item) != ["integration"]:
            raise pytest.UsageError(
                f"{item.nodeid} is marked {tier_of(item)[0]} but uses {sorted(reached)}, "
                "which run out of process: mark it integration"
            )


class TierViolation(AssertionError):
    pass


def _refuse(what: str, tier: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise TierViolation(f"a {tier} test may not {what}: mark it integration")

    return refused


def _host(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) else str(address)


@contextmanager
def _confined(item: pytest.Item) -> Iterator[None]:
    """While `item` sets up, runs and tears down (its module and session fixtures too, when it
    is the first or last to use them), hold it to its tier."""
    tier = tier_of(item)[0] if len(tier_of(item)) == 1 else "integration"
    if tier == "integration":
        yield
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def allowed(address: Any) -> bool:
        return tier == "functional" and (
            not isinstance(address, tuple) or _host(address) in LOOPBACK
        )

    def connect(sock: socket.socket, address: Any) -> None:
        if not allowed(address):
            raise TierViolation(f"a {tier} test may not connect to {address}: mark it integration")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not allowed(address):
            raise TierViolation(f"a {tier} test may not connect to {address}: mark it integration")
        return real_connect_ex(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", _refuse("start a subprocess", tier))
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _confined(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _confined(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    with _confined(item):
        return (yield)
