"""A bounded thread pool for blocking query work (Parquet scans, Arrow compute).

``asyncio.to_thread`` would use the event loop's default executor, shared with everything else
the process runs there (and sized for I/O: up to 32 threads). Queries get their own small pool
instead: on a 2-core machine more threads than cores only queue for the GIL and the CPU while
the event loop -- which serves every other request and the live feed -- waits its turn too.
``LLAMONITOR_QUERY_THREADS`` sets the size (default: cores + 1, at most 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_ENV = "LLAMONITOR_QUERY_THREADS"
_pool: ThreadPoolExecutor | None = None
_pid = 0
_lock = threading.Lock()


def pool_size() -> int:
    """Threads of the query pool."""
    env = os.environ.get(_ENV)
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return min(4, (os.cpu_count() or 1) + 1)


def _executor() -> ThreadPoolExecutor:
    global _pool, _pid
    pid = os.getpid()
    if _pool is None or _pid != pid:  # a forked child gets its own threads
        with _lock:
            if _pool is None or _pid != pid:
                _pool = ThreadPoolExecutor(max_workers=pool_size(), thread_name_prefix="llamonitor-query")
                _pid = pid
    return _pool


async def run_blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on the query pool, awaited from the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), functools.partial(fn, *args, **kwargs))


#: when the question being answered was asked (``time.monotonic()``); ``None``: now
_ASKED: ContextVar[float | None] = ContextVar("llamonitor_query_asked", default=None)


def asked() -> float:
    """When the current question was asked: a storage look begun after it is fresh enough.

    The generation cache (:mod:`llamonitor.query.cache`) sets it once per question, so the
    generation it reads and the answer it then computes share one look at the storage (Parquet:
    one listing of the file set, not two).
    """
    found = _ASKED.get()
    return time.monotonic() if found is None else found


@contextlib.contextmanager
def asked_now() -> Iterator[float]:
    """Within the block, :func:`asked` is the time the block began (nested blocks keep the outer one)."""
    if _ASKED.get() is not None:
        yield _ASKED.get()  # type: ignore[misc]
        return
    now = time.monotonic()
    token = _ASKED.set(now)
    try:
        yield now
    finally:
        _ASKED.reset(token)
