"""What the local stand-ins for AWS (DynamoDB Local, moto's server) share: a child process on
a free loopback port that dies with us, a readiness wait, dummy credentials, a clean stop,
and a `main` loop that serves until ^C."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

# Dummy credentials: the local services check that requests are signed, not by whom.
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class LocalServiceError(RuntimeError):
    pass


def die_with_parent() -> None:
    """Linux: the child gets SIGTERM when we die, even by a signal that skips our cleanup
    (uvicorn re-raises SIGTERM after its shutdown, for one)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalService:
    """One child process serving HTTP on 127.0.0.1:`port`; a context manager."""

    name = "local service"
    error: type[LocalServiceError] = LocalServiceError

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Self:
        raise NotImplementedError

    def _spawn(self, command: list[str], log: IO[bytes], cwd: Path | None = None) -> None:
        # The log goes to a file: a pipe nobody reads fills up and blocks the child.
        self.process = subprocess.Popen(
            command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )

    def _wait_ready(
        self, answers: Callable[[], bool], timeout: float, log_hint: Callable[[], str]
    ) -> None:
        """Poll `answers` until it is true; raise (after killing the child) if the child
        exits or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise self.error(f"{self.name} exited with {code}; {log_hint()}")
            try:
                if answers():
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            if time.monotonic() > deadline:
                hint = log_hint()
                self.stop()
                raise self.error(f"{self.name} not ready after {timeout}s; {hint}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def serve_until_interrupted(self, banner: str) -> None:
        print(f"{self.name} at {self.endpoint_url} {banner}; ^C stops it", flush=True)
        try:
            while self.process is not None and self.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
