"""Summary-type answers cached until new data lands: a cache keyed by the storage generation.

A dashboard asks the same questions again and again (summary, per-operation statistics, the
sessions list, the time series); over a million events each costs a scan or a rollup merge.
:class:`CachedQueryBackend` wraps any :class:`~llamonitor.query.types.QueryBackend` that can
tell its **generation** -- a cheap value that changes whenever stored events change:

- Parquet: the version of the file set (a file added, replaced or removed makes a new one;
  :class:`~llamonitor.query.parquet_files.FileTracker`);
- PostgreSQL: a counter in the rollup state row, bumped by the rollup triggers in the inserting
  transaction (so it is visible exactly when the rows are);
- MySQL / MariaDB and ClickHouse: the row count and the newest start time.

Every cached call first reads the generation (after the call began, so any write that finished
before is counted in it), and answers from the cache only if the entry was computed for that
same generation: a stale answer is never served. Concurrent calls for the same question and
generation share one computation. Events pages are cached too unless the backend keeps its own
page cache (``caches_pages``: Parquet); traces are not (each backend answers them from an index
and each session is its own question); a backend without a generation (``generation()``
returning ``None``, or no such method) is passed through untouched.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from llamonitor.query.threads import asked_now
from llamonitor.query.types import (
    CostGroupBy,
    CostRow,
    EventFilter,
    EventPage,
    GroupBy,
    GroupStats,
    QueryBackend,
    SessionInfo,
    Summary,
    TimeBucket,
    TraceInfo,
)
from llamonitor.schema.events import MetricEvent

T = TypeVar("T")

#: answers kept (least recently used out); each is a summary-sized object
MAX_ENTRIES = 256


async def generation_of(backend: Any) -> Hashable | None:
    """``backend``'s storage generation, or ``None`` when it has none."""
    method = getattr(backend, "generation", None)
    if method is None:
        return None
    found: Hashable | None = await method()
    return found


class CachedQueryBackend:
    """A :class:`QueryBackend` whose summary, aggregates, costs, sessions, time series and events
    pages are cached per storage generation (see the module docstring); the rest is passed through."""

    def __init__(self, backend: QueryBackend, *, max_entries: int = MAX_ENTRIES) -> None:
        self.backend = backend
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._running: dict[tuple[Hashable, Hashable], asyncio.Future[Any]] = {}
        #: answers served from the cache, and computed (for tests and ``/api/health``)
        self.hits = 0
        self.misses = 0

    async def _cached(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        with asked_now():  # the generation and the answer share one look at the storage
            return await self._answer(key, compute)

    async def _answer(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        gen = await generation_of(self.backend)
        if gen is None:
            return await compute()
        found = self._entries.get(key)
        if found is not None and found[0] == gen:
            self._entries.move_to_end(key)
            self.hits += 1
            value: T = found[1]
            return value
        running = self._running.get((key, gen))
        if running is None or running.get_loop() is not asyncio.get_running_loop():
            self.misses += 1
            running = asyncio.ensure_future(compute())
            self._running[(key, gen)] = running
            running.add_done_callback(lambda task: self._done(key, gen, task))
        else:
            self.hits += 1
        # shielded: a caller that goes away does not cancel the answer the others wait for
        result: T = await asyncio.shield(running)
        return result

    def _done(self, key: Hashable, gen: Hashable, task: asyncio.Future[Any]) -> None:
        if self._running.get((key, gen)) is task:
            del self._running[(key, gen)]
        if task.cancelled() or task.exception() is not None:
            return  # failures are not kept: the next call asks the storage again
        self._entries[key] = (gen, task.result())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    # -- cached ------------------------------------------------------------------------------------
    async def summary(self, filter: EventFilter | None = None) -> Summary:
        """See :meth:`QueryBackend.summary` (cached per generation)."""
        return await self._cached(("summary", filter), lambda: self.backend.summary(filter))

    async def aggregates(self, by: GroupBy, filter: EventFilter | None = None) -> list[GroupStats]:
        """See :meth:`QueryBackend.aggregates` (cached per generation)."""
        return await self._cached(("aggregates", by, filter), lambda: self.backend.aggregates(by, filter))

    async def costs(self, by: CostGroupBy, filter: EventFilter | None = None) -> list[CostRow]:
        """See :meth:`QueryBackend.costs` (cached per generation)."""
        return await self._cached(("costs", by, filter), lambda: self.backend.costs(by, filter))

    async def sessions(self, filter: EventFilter | None = None, *, limit: int = 100,
                       offset: int = 0) -> list[SessionInfo]:
        """See :meth:`QueryBackend.sessions` (cached per generation)."""
        return await self._cached(("sessions", filter, limit, offset),
                                  lambda: self.backend.sessions(filter, limit=limit, offset=offset))

    async def timeseries(self, filter: EventFilter | None = None, *, buckets: int = 24) -> list[TimeBucket]:
        """See :meth:`QueryBackend.timeseries` (cached per generation)."""
        return await self._cached(("timeseries", filter, buckets),
                                  lambda: self.backend.timeseries(filter, buckets=buckets))

    async def events(self, filter: EventFilter | None = None, *, limit: int = 100, offset: int = 0,
                     cursor: str | None = None) -> EventPage:
        """See :meth:`QueryBackend.events` (cached per generation, unless the backend keeps its own
        page cache: Parquet's survives appends that cannot change a page)."""
        if getattr(self.backend, "caches_pages", False):
            return await self.backend.events(filter, limit=limit, offset=offset, cursor=cursor)
        return await self._cached(("events", filter, limit, offset, cursor),
                                  lambda: self.backend.events(filter, limit=limit, offset=offset, cursor=cursor))

    # -- passed through ------------------------------------------------------------------------------

    async def traces(self, session_id: str, *, limit: int = 1000, offset: int = 0) -> list[TraceInfo]:
        """See :meth:`QueryBackend.traces`."""
        return await self.backend.traces(session_id, limit=limit, offset=offset)

    async def trace_events(self, trace_id: str, *, session_id: str | None = None) -> list[MetricEvent]:
        """See :meth:`QueryBackend.trace_events`."""
        return await self.backend.trace_events(trace_id, session_id=session_id)

    async def generation(self) -> Hashable | None:
        """The wrapped backend's generation."""
        return await generation_of(self.backend)

    async def ping(self) -> None:
        """Whether the storage answers (raises when it does not): the wrapped backend's cheapest query."""
        method = getattr(self.backend, "ping", None)
        if method is not None:
            await method()
        else:
            await self.backend.events(limit=1)

    async def close(self) -> None:
        """Close the wrapped backend."""
        self._entries.clear()
        await self.backend.close()
