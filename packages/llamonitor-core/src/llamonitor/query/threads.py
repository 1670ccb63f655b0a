"""A bounded thread pool for blocking query work (Parquet scans, Arrow compute).

``asyncio.to_thread`` would use the event loop's default executor, shared with everything else
the process runs there (and sized for I/O: up to 32 threads). Queries get their own small pool
instead: on a 2-core machine more threads than cores only queue for the GIL and the CPU while
the event loop -- which serves every other request and the live feed -- waits its turn too.
``LLAMONITOR_QUERY_THREADS`` sets the size (default: cores + 1, at most 4).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
