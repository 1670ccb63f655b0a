"""Give back to the operating system what a burst of events left in the allocators' caches.

After a burst, the writer's memory is free but not returned: pyarrow's default pool (mimalloc)
keeps the pages of what the writer's Arrow calls allocated there (dataset projections and
``group_by`` take no pool; everything else uses the system pool, ``schema.arrow.WRITER_POOL``),
and glibc's malloc keeps the freed blocks of the writer threads' arenas (lists of a batch, the
records' strings). A process that had one burst keeps tens of megabytes it will not use again.
The writer calls :func:`release_unused_memory` when it goes idle after writing at least
:data:`RELEASE_AFTER_EVENTS` events (and at a flush or shutdown), at most once per
:data:`RELEASE_EVERY_SECONDS`: the calls run without the GIL and take about a millisecond.

mimalloc's heaps are per thread: its release frees only the *calling* thread's pages, so
:func:`release_arrow_pool` must run on every thread that made Arrow calls (the writer runs it on
its build thread, then :func:`release_unused_memory` on its own). Released from another thread,
those pages stayed: +13 to +18 MB after five bursts of 100k calls, against +2 to +4 MB now.

What stays (measured in docs/performance.md): Python's own small-object arenas that still hold
a live object, and the interpreter's and pyarrow's caches -- a few megabytes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from typing import Any

#: events written since the last release below which an idle writer does not release
RELEASE_AFTER_EVENTS = 10_000
#: the least time between two releases (a release costs about a millisecond)
RELEASE_EVERY_SECONDS = 1.0


def _find_malloc_trim() -> Callable[[int], Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], Any] = libc.malloc_trim  # glibc only (musl has none)
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]  # type: ignore[attr-defined]
    trim.restype = ctypes.c_int  # type: ignore[attr-defined]
    return trim


_malloc_trim = _find_malloc_trim()


def release_arrow_pool() -> None:
    """Return the pages pyarrow's default pool freed on *this thread* to the OS (see the module doc)."""
    pa = sys.modules.get("pyarrow")  # nothing to release when pyarrow was never used
    if pa is not None:
        try:
            pa.default_memory_pool().release_unused()
        except Exception:  # pragma: no cover - an exotic pool without the call
            pass


def release_unused_memory() -> None:
    """Return the freed memory of the Arrow pool (this thread's part) and of glibc's malloc arenas to the OS."""
    release_arrow_pool()
    if _malloc_trim is not None:
        _malloc_trim(0)  # ctypes releases the GIL for the call
