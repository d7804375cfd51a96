"""Blocking work (DynamoDB round trips, tokenizing, the model) runs here, off the event loop.

Under uvicorn one event loop serves every connection, so a DynamoDB call made on it stalls
every other request for its round trip. Routes hand a request's blocking part to this pool in
one hop. On Lambda a container serves one request at a time: nothing can wait for the loop,
so the work runs inline there and the thread switch (~0.1 ms warm) is not paid.

A plain ThreadPoolExecutor rather than Starlette's run_in_threadpool: that loads anyio's
asyncio backend (~11 ms), and its hop measured slower (~0.1 ms against ~0.05 ms).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, TypeVar, TypeVarTuple

if TYPE_CHECKING:  # a type only: usage/ reads WORKERS here without loading Starlette
    from concurrent.futures import ThreadPoolExecutor

    from starlette.requests import HTTPConnection

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Requests in flight on their blocking part at once; the botocore clients keep as many
# connections (store.client_config), so none is opened and dropped under load.
WORKERS = 32
LAMBDA_EVENT = "aws.event"  # in the ASGI scope of every request Mangum passes in
LAMBDA_CONTEXT = "aws.context"


@cache
def _pool() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor  # here: Lambda never needs it

    return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="blocking")


async def off_loop(request: HTTPConnection, work: Callable[[*Ts], T], *args: *Ts) -> T:
    """`work(*args)` on a worker thread, or inline for a Lambda invocation. If the awaiting
    task is cancelled, the work still runs to its end: a usage write is never cut short.
    The work sees the caller's context variables (the request id its log lines carry)."""
    if LAMBDA_EVENT in request.scope:
        return work(*args)
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_pool(), context.run, work, *args)
