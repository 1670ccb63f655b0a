"""Live events written by another process: tail the storage when no writer runs in this one.

``llamonitor serve`` usually runs beside the application, not inside it, so the in-process
writer listener (:meth:`LiveHub.attach`) sees nothing. :class:`StorageTail` then polls storage:

- Parquet: the dataset's files are immutable once renamed into place, so each scan lists the
  ``*.parquet`` files and reads only the ones not seen before (``tailing Parquet``);
- every other backend: the newest time range (``start >= now - lookback``) through the query
  backend's ``events`` pages (``polling <backend>``).

Both start from "now" (what was stored before the server started is not replayed) and pass
each event to the hub at most once: event ids already published are remembered in a bounded
window, so an overlapping scan, a re-delivered batch or a restarted tail sends nothing twice.

While no client listens (``listening()`` false) nothing is read: Parquet only lists the files,
so a client that connects later gets every file that appears after that; a SQL poll starts
over (notes what is stored) on the next poll after a client connects, so an event stored in
that half second before it may not be shown live (it is stored, and queries return it). Reading
back every file or the newest 30 s of events twice a second for nobody cost ``serve`` a quarter
of its CPU under a high ingest rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llamonitor.query.types import MAX_PAGE, EventFilter, QueryBackend
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent

logger = logging.getLogger("llamonitor.api")

#: how often storage is looked at (the live feed's added latency is at most this plus a flush)
POLL_SECONDS = 0.5
#: how far back a SQL poll looks: an event whose start time is older than this when it lands is missed
LOOKBACK_SECONDS = 30.0
#: event ids remembered for dedupe
DEDUPE_WINDOW = 200_000


class SeenIds:
    """A bounded, insertion-ordered set of event ids (the oldest are forgotten first)."""

    def __init__(self, size: int = DEDUPE_WINDOW) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def fresh(self, events: Sequence[MetricEvent]) -> list[MetricEvent]:
        """The events of ``events`` not seen before (and remember them)."""
        out = []
        for event in events:
            if event.event_id in self._ids:
                continue
            self._ids[event.event_id] = None
            out.append(event)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return out

    def __len__(self) -> int:
        return len(self._ids)


def tail_mode(storage: StorageConfig) -> str:
    """The badge's text for a tail over ``storage``."""
    return "tailing Parquet" if storage.backend == "parquet" else f"polling {storage.backend}"


class ParquetFiles:
    """New files of a Parquet dataset since the last call (files are renamed into place whole)."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self.known: set[str] = set()

    def _list(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        return {str(p) for p in self.root.rglob("*.parquet") if not p.name.startswith(".")}

    def prime(self) -> None:
        """Take the files present now as seen."""
        self.known = self._list()

    def new_events(self) -> list[MetricEvent]:
        """Events of the files that appeared since the last call, in (start time, id) order."""
        import pyarrow.parquet as pq

        from llamonitor.schema.arrow import table_to_events

        current = self._list()
        added = sorted(current - self.known)
        events: list[MetricEvent] = []
        for path in added:
            try:
                events.extend(table_to_events(pq.read_table(path)))
            except FileNotFoundError:  # compacted away meanwhile
                continue
            except Exception:  # one unreadable file must not stop the tail
                logger.warning("llamonitor api: live tail could not read a Parquet file", exc_info=True)
        self.known = current
        events.sort(key=lambda e: (e.start_time_ns, e.event_id))
        return events


class StorageTail:
    """Polls storage and hands new events to ``publish`` (on the event loop), each once."""

    def __init__(self, storage: StorageConfig, backend: Callable[[], QueryBackend],
                 publish: Callable[[Sequence[MetricEvent]], None], *, poll_seconds: float = POLL_SECONDS,
                 lookback_seconds: float = LOOKBACK_SECONDS, listening: Callable[[], bool] | None = None) -> None:
        self.storage = storage
        self.backend = backend
        self.publish = publish
        #: whether anyone receives what is published (``None``: always read)
        self.listening = listening
        #: events read back from storage (nothing is read while nobody listens)
        self.events_read = 0
        self.poll_seconds = poll_seconds
        self.lookback = timedelta(seconds=lookback_seconds)
        self.seen = SeenIds()
        self.mode = tail_mode(storage)
        self.published = 0
        self.errors = 0
        #: scans done (the first one only notes what is already stored)
        self.scans = 0
        self._files = ParquetFiles(storage.output_dir) if storage.backend == "parquet" else None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the tail is polling."""
        return self._task is not None and not self._task.done()

    async def _recent(self) -> list[MetricEvent]:
        since = datetime.now(timezone.utc) - self.lookback
        backend, events, cursor = self.backend(), [], None
        while True:
            page = await backend.events(EventFilter(start=since), limit=MAX_PAGE, cursor=cursor)
            events.extend(page.events)
            cursor = page.next_cursor
            if cursor is None:
                return events

    async def _scan(self) -> list[MetricEvent]:
        if self._files is not None:
            events = await asyncio.to_thread(self._files.new_events)
        else:
            events = await self._recent()
        self.events_read += len(events)
        return events

    async def _prime(self) -> None:
        if self._files is not None:
            await asyncio.to_thread(self._files.prime)
        else:
            self.seen.fresh(await self._recent())

    async def _run(self) -> None:
        primed = False
        while True:
            started = time.monotonic()
            try:
                idle = self.listening is not None and not self.listening()
                if idle and self._files is None:
                    primed = False  # no SQL poll for nobody; note what is stored once someone listens
                elif not primed or idle:
                    # storage not created yet also means: nothing stored before; while nobody
                    # listens, Parquet files are only listed, so a later listener gets what follows
                    primed = True
                    await self._prime()
                else:
                    fresh = self.seen.fresh(await self._scan())
                    if fresh:
                        self.published += len(fresh)
                        self.publish(fresh)
                self.scans += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # storage down: keep trying, health shows the count
                self.errors += 1
                if self.errors == 1:
                    logger.warning("llamonitor api: live tail failed to read storage", exc_info=True)
            await asyncio.sleep(max(0.0, self.poll_seconds - (time.monotonic() - started)))

    def start(self) -> None:
        """Start polling (on the running loop); a second call while running does nothing."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def halt(self) -> None:
        """Cancel polling without waiting (from synchronous code on the loop)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        """Stop polling; a later :meth:`start` primes again and keeps the dedupe window."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
