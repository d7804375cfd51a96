"""Run a worker module in a given interpreter and read the JSON object it prints last."""

from __future__ import annotations

import json
import os
import select
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from bench.config import REPO


class WorkerError(RuntimeError):
    """A worker exited non-zero or printed no JSON; the message carries its stderr tail."""


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["HF_HUB_OFFLINE"] = "1"  # there is no hub here; fail fast instead of retrying
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    # torch's OpenMP threads wait passively, as ONNX Runtime's do with spinning off (the
    # service's setting). On a shared machine torch's default busy-wait made it 2-3x slower,
    # which would flatter every ratio against it.
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    env.pop("VIRTUAL_ENV", None)
    # The service's EMF lines (one per request) would mix into a worker's JSON on stdout;
    # written to /dev/null they still cost their write (the metrics_overhead section's figure).
    env.setdefault("METRICS_LOG", os.devnull)
    env.update(extra or {})
    return env


def run_worker(
    python: Path,
    module: str,
    args: list[str],
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> dict[str, Any]:
    """`python -m module args` from the repo root; returns its last stdout line as JSON."""
    if not python.exists():
        raise WorkerError(f"{python} does not exist (its venv is built by `make bench`)")
    done = subprocess.run(
        [str(python), "-m", module, *args],
        cwd=REPO,
        env=worker_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise WorkerError(f"{module} exited {done.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def time_to_first_line(
    python: Path, module: str, args: list[str], env: dict[str, str] | None = None
) -> tuple[float, dict[str, Any]]:
    """Wall seconds from spawning a fresh process to the JSON line it prints on its first answer.

    That is the cold start a user waits for: interpreter start, imports, model load, first request.
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(python), "-m", module, *args],
        cwd=REPO,
        env=worker_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    elapsed = time.perf_counter() - started
    _, stderr = child.communicate(timeout=120)
    if child.returncode != 0 or not line.strip():
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise WorkerError(f"{module} exited {child.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(line)
    return elapsed, result


class WorkerSession:
    """`python -m module args`, kept running; `ask(command)` writes a line, reads a JSON line."""

    def __init__(self, python: Path, module: str, args: list[str]) -> None:
        if not python.exists():
            raise WorkerError(f"{python} does not exist (its venv is built by `make bench`)")
        self.module = module
        self._stderr: IO[str] = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [str(python), "-m", module, *args],
            cwd=REPO,
            env=worker_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )

    def read(self, timeout: float = 300) -> dict[str, Any]:
        """The worker's next JSON line; a worker silent for `timeout` seconds is killed."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.process.kill()
            raise WorkerError(f"{self.module} said nothing for {timeout:.0f} s; killed it")
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            self._stderr.seek(0)
            tail = "\n".join(self._stderr.read().strip().splitlines()[-15:])
            raise WorkerError(f"{self.module} exited {self.process.returncode}:\n{tail}")
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stderr.close()
