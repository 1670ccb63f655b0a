"""Live events written by another process: tail the storage when no writer runs in this one.

``llamonitor serve`` usually runs beside the application, not inside it, so the in-process
writer listener (:meth:`LiveHub.attach`) sees nothing. :class:`StorageTail` then follows storage:

- Parquet: the dataset's files are immutable once renamed into place, so each scan (every
  0.5 s) lists the files (cheaply: only the folders that changed) and reads only the ones not
  seen before (``tailing Parquet``);
- PostgreSQL: the insert path sends a ``NOTIFY`` after each stored batch (its count, start-time
  range and event-id range; :func:`llamonitor.backends.postgres.notify_payload`); the tail
  listens (``LISTEN``) on a connection of its own and reads exactly that range when told
  (``listening postgres``); after :data:`FALLBACK_POLL_SECONDS` without a notification it polls
  the newest time range once, for writers that do not notify (``options={"notify": False}``);
  if ``LISTEN`` fails it polls like the other servers;
- MySQL / MariaDB, ClickHouse (and PostgreSQL without ``LISTEN``): the newest time range
  (``start >= now - lookback``) through the query backend's ``events`` pages every 0.5 s
  (``polling <backend>``).

Every mode starts from "now" (what was stored before the server started is not replayed; for
Parquet, files renamed into place from a second before the tail started on are new) and passes
each event to the hub at most once: event ids already published are remembered in a bounded
window, so an overlapping scan, a re-delivered batch or a restarted tail sends nothing twice.
Events are serialised for the WebSocket clients in the query thread pool, not on the event loop.

Two things keep the tail cheap while ``serve`` ingests OTLP (its own writer then stores
thousands of events a second):

- it reads nothing while no live client listens (``wanted``, the hub's "has subscribers"): a
  PostgreSQL listener keeps listening but drops what it is told, Parquet and the SQL polls are
  not looked at; when a client subscribes the tail primes again from "now" before the client is
  accepted (:meth:`StorageTail.ready`), so the client misses nothing stored after it connected;
- what this process's own writer stores reaches the hub from the writer directly
  (:meth:`LiveHub.on_batch`), which first tells the tail (:meth:`StorageTail.note_own`): the
  batch's ids join the dedupe window, so a Parquet file whose ``event_id`` column holds only
  known ids is not read further, and a PostgreSQL notification naming exactly an own batch
  (count and id range) is not read at all. The writer calls its listeners before it stores a
  batch, so the tail always knows a batch is its own before it can find it in storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from llamonitor.query.types import MAX_PAGE, EventFilter, QueryBackend
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent, ns_to_datetime

logger = logging.getLogger("llamonitor.api")

#: how often storage is looked at (the live feed's added latency is at most this plus a flush)
POLL_SECONDS = 0.5
#: how far back a SQL poll looks: an event whose start time is older than this when it lands is missed
LOOKBACK_SECONDS = 30.0
#: event ids remembered for dedupe
DEDUPE_WINDOW = 200_000
#: with ``LISTEN``: after this long without a notification the newest time range is polled (writers that
#: do not notify)
FALLBACK_POLL_SECONDS = 5.0
#: events read for one notification at most (its own count, times this, plus a page)
NOTIFIED_FACTOR = 4
#: a Parquet file renamed into place this long before the tail started is new to it
PRIME_SLACK_NS = 1_000_000_000

#: ``publish(events, texts)``: ``texts`` are the events' ``data`` JSON, or ``None``
Publish = Callable[..., None]


class SeenIds:
    """A bounded, insertion-ordered set of event ids (the oldest are forgotten first)."""

    def __init__(self, size: int = DEDUPE_WINDOW) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        # the writer thread adds its own batches' ids while the loop filters the tail's finds
        self._lock = threading.Lock()

    def fresh(self, events: Sequence[MetricEvent]) -> list[MetricEvent]:
        """The events of ``events`` not seen before (and remember them)."""
        out = []
        with self._lock:
            ids = self._ids
            for event in events:
                if event.event_id in ids:
                    continue
                ids[event.event_id] = None
                out.append(event)
            while len(ids) > self.size:
                ids.popitem(last=False)
        return out

    def add(self, ids: Sequence[str]) -> None:
        """Remember ``ids`` (events published another way)."""
        with self._lock:
            self._ids.update(dict.fromkeys(ids))
            while len(self._ids) > self.size:
                self._ids.popitem(last=False)

    def all_known(self, ids: Sequence[str]) -> bool:
        """Whether every id of ``ids`` was seen."""
        with self._lock:
            known = self._ids
            return all(i in known for i in ids)

    def __len__(self) -> int:
        return len(self._ids)


def tail_mode(storage: StorageConfig) -> str:
    """The badge's text for a tail over ``storage`` before it runs (PostgreSQL says
    ``listening postgres`` once its ``LISTEN`` is established)."""
    return "tailing Parquet" if storage.backend == "parquet" else f"polling {storage.backend}"


def serialize(events: Sequence[MetricEvent]) -> list[str]:
    """Each event's ``data`` JSON for the live messages (done off the event loop)."""
    from llamonitor.api.hub import event_data

    return [event_data(e) for e in events]


class ParquetFiles:
    """New files of a Parquet dataset since the last call (files are renamed into place whole).

    Listed with the query layer's :class:`~llamonitor.query.parquet_files.FileTracker`: a ``stat``
    per partition folder and a listing of the folders that changed, not a walk of every file.
    """

    def __init__(self, root: str) -> None:
        from llamonitor.query.parquet_files import FileTracker

        self.root = Path(root)
        self.tracker = FileTracker(root, check_ids=False)  # which files share events: not the tail's concern
        self.known: frozenset[tuple[str, int, int]] = frozenset()
        #: files not read past their ids: every event was this process's own
        self.skipped_files = 0
        #: files read whole
        self.files_read = 0

    def prime(self, since_ns: int | None = None) -> None:
        """Take the files present now as seen -- except, with ``since_ns``, those renamed into place
        after it (less :data:`PRIME_SLACK_NS`): they were written after the tail started."""
        snap = self.tracker.snapshot()
        if since_ns is None:
            self.known = snap.keys
        else:
            self.known = frozenset(f.key for f in snap.files if f.key[2] < since_ns - PRIME_SLACK_NS)

    def new_events(self, seen: SeenIds | None = None) -> list[MetricEvent]:
        """Events of the files that appeared (or were replaced) since the last call, in (start time, id) order.

        With ``seen``, a file whose ``event_id`` column holds only ids in it (this process's own
        writer wrote it) is skipped after reading that one column.
        """
        import pyarrow.parquet as pq

        from llamonitor.schema.arrow import table_to_events

        snap = self.tracker.snapshot()
        added = [f.path for f in snap.files if f.key not in self.known and f.path.endswith(".parquet")]
        events: list[MetricEvent] = []
        for path in added:
            try:
                file = pq.ParquetFile(path)
                if seen is not None and seen.all_known(file.read(columns=["event_id"]).column(0).to_pylist()):
                    self.skipped_files += 1
                    continue
                self.files_read += 1
                events.extend(table_to_events(file.read()))
            except FileNotFoundError:  # compacted away meanwhile
                continue
            except Exception:  # one unreadable file must not stop the tail
                logger.warning("llamonitor api: live tail could not read a Parquet file", exc_info=True)
        self.known = snap.keys
        events.sort(key=lambda e: (e.start_time_ns, e.event_id))
        return events


class PgListener:
    """A connection of its own listening (``LISTEN``) on a PostgreSQL table's channel; collects the ranges
    the notifications name until :meth:`take`."""

    def __init__(self, storage: StorageConfig) -> None:
        from llamonitor.backends.postgres import PostgresBackend

        backend = PostgresBackend(storage)  # for its DSN and channel only: no pool is opened
        self.dsn = backend.pg_dsn
        self.channel = backend.channel
        self.masked = backend.masked_dsn
        self.conn: Any = None
        self.wake = asyncio.Event()
        self._ranges: list[dict[str, Any]] = []
        self.notifications = 0

    @property
    def alive(self) -> bool:
        """Whether the connection listens."""
        return self.conn is not None and not self.conn.is_closed()

    async def start(self) -> None:
        """Connect and ``LISTEN`` (raises when the server cannot be reached)."""
        import asyncpg

        await self.close()
        self.conn = await asyncpg.connect(dsn=self.dsn, timeout=10)
        await self.conn.add_listener(self.channel, self._notified)

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.notifications += 1
        try:
            found = json.loads(payload)
            if not isinstance(found, dict) or not isinstance(found.get("lo"), int) or not isinstance(
                    found.get("hi"), int):
                raise ValueError(payload[:100])
        except ValueError:
            found = {}  # not ours to parse: poll the newest range instead
        self._ranges.append(found)
        self.wake.set()

    def take(self) -> list[dict[str, Any]]:
        """The ranges notified since the last call."""
        ranges, self._ranges = self._ranges, []
        self.wake.clear()
        return ranges

    async def close(self) -> None:
        """Stop listening."""
        conn, self.conn = self.conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


class StorageTail:
    """Follows storage and hands new events to ``publish`` (on the event loop), each once."""

    def __init__(self, storage: StorageConfig, backend: Callable[[], QueryBackend], publish: Publish, *,
                 poll_seconds: float = POLL_SECONDS, lookback_seconds: float = LOOKBACK_SECONDS,
                 listen: bool = True) -> None:
        self.storage = storage
        self.backend = backend
        self.publish = publish
        self.poll_seconds = poll_seconds
        self.lookback = timedelta(seconds=lookback_seconds)
        self.seen = SeenIds()
        self.mode = tail_mode(storage)
        self.published = 0
        self.errors = 0
        #: scans done (the first one only notes what is already stored)
        self.scans = 0
        self._files = ParquetFiles(storage.output_dir) if storage.backend == "parquet" else None
        self._listener = PgListener(storage) if listen and storage.backend in ("postgres", "postgresql") else None
        self._task: asyncio.Task[None] | None = None
        self._started_ns = time.time_ns()
        self._listen_tried = -FALLBACK_POLL_SECONDS
        self._listen_warned = False
        #: whether anyone wants live events now (the hub: "has subscribers"); ``None``: always
        self.wanted: Callable[[], bool] | None = None
        #: primed since it was last wanted (what was stored before is noted, not published)
        self._primed = asyncio.Event()
        self._poke = asyncio.Event()
        #: (count, lowest id, highest id) of the batches this process's writer stored, newest last
        self._own: OrderedDict[tuple[int, str, str], None] = OrderedDict()
        #: notified batches / Parquet files not read because this process's writer stored them
        self.own_skipped = 0
        #: loop iterations spent idle (nobody wanted live events: nothing read)
        self.idle_scans = 0
        #: pages queried from a SQL backend (Parquet: :attr:`files_read`)
        self.reads = 0

    def note_own(self, ids: Sequence[str]) -> None:
        """The ids of a batch this process's writer is about to store (any thread): the hub got its
        events from the writer, so the tail neither reads nor publishes them again."""
        if not ids:
            return
        self.seen.add(ids)
        with self.seen._lock:
            self._own[(len(ids), min(ids), max(ids))] = None
            while len(self._own) > 4096:
                self._own.popitem(last=False)

    def _is_own(self, r: dict[str, Any]) -> bool:
        key = (r.get("n"), r.get("idlo"), r.get("idhi"))
        with self.seen._lock:
            return key in self._own

    def poke(self) -> None:
        """Look at storage now (a client subscribed): an idle tail primes at once."""
        self._poke.set()
        if self._listener is not None:
            self._listener.wake.set()

    async def ready(self, timeout: float = 5.0) -> bool:
        """Wait (at most ``timeout`` s) until the tail has primed since it is wanted: from then on every
        event stored is published. Whether it has."""
        if not self.running:
            return False
        self.poke()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._primed.wait(), timeout)
        return self._primed.is_set()

    @property
    def files_read(self) -> int:
        """Parquet files read whole (0 for the SQL backends)."""
        return 0 if self._files is None else self._files.files_read

    @property
    def running(self) -> bool:
        """Whether the tail is polling."""
        return self._task is not None and not self._task.done()

    async def _pages(self, flt: EventFilter, cap: int | None = None) -> list[MetricEvent]:
        backend, cursor = self.backend(), None
        events: list[MetricEvent] = []
        while cap is None or len(events) < cap:
            self.reads += 1
            page = await backend.events(flt, limit=MAX_PAGE, cursor=cursor)
            events.extend(page.events)
            cursor = page.next_cursor
            if cursor is None:
                break
        return events

    async def _recent(self) -> list[MetricEvent]:
        return await self._pages(EventFilter(start=datetime.now(timezone.utc) - self.lookback))

    async def _notified(self, ranges: list[dict[str, Any]]) -> list[MetricEvent]:
        """The events of the notified batches: their start-time range, kept to their id range."""
        if any(not r for r in ranges):
            return await self._recent()  # a payload we could not read
        events: list[MetricEvent] = []
        for r in ranges:
            if self._is_own(r):  # this process's writer stored it: the hub has these events
                self.own_skipped += 1
                continue
            flt = EventFilter(start=ns_to_datetime(r["lo"]), end=ns_to_datetime(r["hi"]) + timedelta(microseconds=1))
            found = await self._pages(flt, cap=NOTIFIED_FACTOR * int(r.get("n") or 0) + MAX_PAGE)
            low, high = r.get("idlo"), r.get("idhi")
            if isinstance(low, str) and isinstance(high, str):
                found = [e for e in found if low <= e.event_id <= high]
            events.extend(found)
        events.sort(key=lambda e: (e.start_time_ns, e.event_id))
        return events

    async def _scan(self) -> list[MetricEvent]:
        if self._files is not None:
            files = self._files
            before = files.skipped_files
            events = await asyncio.to_thread(files.new_events, self.seen)
            self.own_skipped += files.skipped_files - before
            return events
        return await self._recent()

    async def _prime(self) -> None:
        if self._files is not None:
            await asyncio.to_thread(self._files.prime, self._started_ns)
        else:
            self.seen.fresh(await self._recent())

    async def _deliver(self, events: list[MetricEvent]) -> None:
        fresh = self.seen.fresh(events)
        if fresh:
            from llamonitor.query.threads import run_blocking

            texts = await run_blocking(serialize, fresh)
            self.published += len(fresh)
            self.publish(fresh, texts)

    async def _listen(self) -> bool:
        """Start ``LISTEN`` if it is not running (at most every :data:`FALLBACK_POLL_SECONDS`);
        whether it runs. Events stored while it was down are caught up by one poll."""
        listener = self._listener
        if listener is None:
            return False
        if listener.alive:
            return True
        if time.monotonic() - self._listen_tried < FALLBACK_POLL_SECONDS:
            return False
        self._listen_tried = time.monotonic()
        was = self.mode
        self.mode = tail_mode(self.storage)
        try:
            await listener.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            from llamonitor.backends.dsn import scrub

            if not self._listen_warned:
                self._listen_warned = True
                logger.warning("llamonitor api: live tail cannot LISTEN on %s (%s: %s); polling instead",
                               listener.masked, type(exc).__name__, scrub(str(exc), listener.dsn))
            return False
        self._listen_warned = False
        self.mode = "listening postgres"
        if was == "listening postgres":  # the connection was lost: what landed meanwhile
            await self._deliver(await self._recent())
        return True

    async def _run(self) -> None:
        primed = False
        last_poll = 0.0
        while True:
            started = time.monotonic()
            wait = self.poll_seconds
            try:
                listening = await self._listen()
                if self.wanted is not None and not self.wanted():
                    # nobody listens: read nothing (a listener's notifications are dropped); prime
                    # again from "now" when a client comes
                    primed = False
                    self._primed.clear()
                    if self._listener is not None:
                        self._listener.take()
                    self.idle_scans += 1
                    self.scans += 1
                    self._poke.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._poke.wait(), self.poll_seconds)
                    continue
                if not primed:
                    primed = True  # storage not created yet also means: nothing stored before
                    self._started_ns = time.time_ns()
                    if self._listener is not None:
                        self._listener.take()  # told before this prime: the prime reads it
                    try:
                        await self._prime()
                    finally:  # a failed prime must not keep a client waiting: it is retried as a scan
                        self._primed.set()
                    last_poll = time.monotonic()
                elif listening and self._listener is not None:
                    ranges = self._listener.take()
                    if ranges:
                        await self._deliver(await self._notified(ranges))
                        last_poll = time.monotonic()  # told: the writers notify, no poll needed
                    elif time.monotonic() - last_poll >= FALLBACK_POLL_SECONDS:
                        last_poll = time.monotonic()
                        await self._deliver(await self._recent())
                else:
                    await self._deliver(await self._scan())
                self.scans += 1
                if listening and self._listener is not None:
                    wait = FALLBACK_POLL_SECONDS - (time.monotonic() - last_poll)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._listener.wake.wait(), max(0.0, wait))
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:  # storage down: keep trying, health shows the count
                self.errors += 1
                if self.errors == 1:
                    logger.warning("llamonitor api: live tail failed to read storage", exc_info=True)
            await asyncio.sleep(max(0.0, wait - (time.monotonic() - started)))

    def start(self) -> None:
        """Start polling (on the running loop); a second call while running does nothing."""
        if not self.running:
            self._started_ns = time.time_ns()
            self._task = asyncio.get_running_loop().create_task(self._run())

    def halt(self) -> None:
        """Cancel polling without waiting (from synchronous code on the loop)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        if self._listener is not None and self._listener.conn is not None:
            conn, self._listener.conn = self._listener.conn, None
            conn.terminate()

    async def stop(self) -> None:
        """Stop polling; a later :meth:`start` primes again and keeps the dedupe window."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener is not None:
            await self._listener.close()
