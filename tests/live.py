"""The app on a real socket for the tests that need one: uvicorn serving in a thread of the
test process, on a free loopback port. The one copy of this loop (and of `free_port`, which
lives with the local services in tools/local_service.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tools.local_service import free_port

__all__ = ["free_port", "serve_in_thread"]


@contextmanager
def serve_in_thread(app: Any, start_timeout: float = 30.0, **config: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 until the block ends; yields the base URL (no path).
    `config` goes to uvicorn.Config (log_level defaults to warning, lifespan to off)."""
    config.setdefault("log_level", "warning")
    config.setdefault("lifespan", "off")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
