"""Bounded load test: the app under uvicorn on 127.0.0.1, a fixed number of requests from many
concurrent clients (asyncio + httpx), then the server is stopped. Loopback only, never a loop
without an end: `requests` in total, each with a timeout.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench.config import REPO, SERVICE_PY
from bench.events import MODEL
from bench.proc import worker_env
from bench.stats import summary_ms
from tools.dynamodb_local import free_port

REQUEST_TIMEOUT_S = 60.0


@contextmanager
def uvicorn_server(env: dict[str, str], app: str, factory: bool) -> Iterator[str]:
    """Serve `app` (module:attribute) on a free loopback port; yields its base URL; stops it
    after. With factory, the attribute is a function that returns the app."""
    port = free_port()
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        [
            str(SERVICE_PY),
            "-m",
            "uvicorn",
            app,
            *(["--factory"] if factory else []),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=REPO,
        env=worker_env(env),
        stdout=subprocess.DEVNULL,
        stderr=log,  # a file, not a pipe: a full pipe would stall the server mid-test
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"uvicorn exited {server.returncode}: {tail}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer /health within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


async def _drive(
    base: str, texts: list[str], requests: int, clients: int, headers: dict[str, str]
) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    next_index = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=REQUEST_TIMEOUT_S) as client:

        async def one_client() -> None:
            for i in next_index:  # shared iterator: the clients split the fixed total
                body = {"input": texts[i % len(texts)], "model": MODEL}
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/embeddings", json=body, headers=headers)
                    if response.status_code != 200:
                        errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                        continue
                    response.json()
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - started
    return latencies, errors, wall


def run_load(
    texts: list[str],
    requests: int,
    clients: int,
    env: dict[str, str],
    headers: dict[str, str] | None = None,
    app: str = "handler.app:app",
    factory: bool = False,
) -> dict[str, Any]:
    """Requests/s, latency percentiles and every error of one bounded load run."""
    warmup = min(requests, 2 * clients)  # opens every connection before the clock starts
    with uvicorn_server(env, app, factory) as base:
        _, warm_errors, _ = asyncio.run(_drive(base, texts, warmup, clients, headers or {}))
        latencies, errors, wall = asyncio.run(_drive(base, texts, requests, clients, headers or {}))
    return {
        "warmup_requests": warmup,
        "warmup_ok": warmup - len(warm_errors),
        "requests": requests,
        "clients": clients,
        "ok": len(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "requests_per_s": round(len(latencies) / wall, 2),
        "wall_s": round(wall, 3),
        **(summary_ms(latencies) if latencies else {}),
    }
