"""The background writer: one thread, its own event loop, batches to every sink.

Callers only append to the :class:`Recorder`; this thread builds events (measurement, tokens,
cost), batches them by size and interval, and fans each batch out to every sink. A failing
sink is retried with exponential backoff; after ``max_retries`` the batch is spilled to disk
and the sink's circuit opens (later batches spill directly, one probe per
``circuit_open_seconds``). When a probe succeeds the spilled batches are replayed. Nothing
accepted is lost without a counter: ``health()`` reports every outcome.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

from llamonitor import clock
from llamonitor.backends.base import StorageBackend
from llamonitor.backends.errors import refused_data
from llamonitor.schema.batch import EventBatch
from llamonitor.schema.config import MonitorConfig
from llamonitor.schema.events import MetricEvent
from llamonitor.schema.sanitize import json_values_fixed
from llamonitor.transport.enrich import EventBuilder
from llamonitor.transport.isolate import IsolationInterrupted, write_isolating
from llamonitor.transport.memory import (
    RELEASE_AFTER_EVENTS,
    RELEASE_EVERY_SECONDS,
    release_arrow_pool,
    release_unused_memory,
)
from llamonitor.transport.pipeline import Job, JobThread
from llamonitor.transport.recorder import Recorder
from llamonitor.transport.sampling import sampler_for
from llamonitor.transport.spill import SpillStore

logger = logging.getLogger("llamonitor")
#: how often the writer looks whether a burst of calls goes on (see ``MonitoringWriter._pace``)
PACE_POLL_SECONDS = 0.002
#: the longest the writer lets a burst run before it takes the burst's events
PACE_MAX_SECONDS = 0.25
Listener = Callable[[Sequence[MetricEvent]], None]


class SinkState:
    """Counters and circuit state of one sink."""

    def __init__(self, sink: StorageBackend) -> None:
        self.sink = sink
        self.name = getattr(sink, "name", type(sink).__name__)
        self.written = 0
        self.failed_attempts = 0
        self.spilled_batches = 0
        self.spilled_events = 0
        self.replayed_events = 0
        self.lost_events = 0
        #: events the sink refused even alone, written to the dead-letter folder with the error
        self.dead_lettered = 0
        #: spill files that could not be read, moved to the dead-letter folder
        self.quarantined_files = 0
        self.degraded = False
        self.probe_at = 0.0
        self.last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": self.written, "failed_attempts": self.failed_attempts,
            "spilled_batches": self.spilled_batches, "spilled_events": self.spilled_events,
            "replayed_events": self.replayed_events, "lost_events": self.lost_events,
            "dead_lettered": self.dead_lettered, "quarantined_files": self.quarantined_files,
            "degraded": self.degraded, "last_error": self.last_error,
            # exporters report their own sent / dropped counters
            **({"exporter": self.sink.exporter_stats()} if hasattr(self.sink, "exporter_stats") else {}),
        }


class Started:
    """What :meth:`MonitoringWriter.start` returns: nothing, but awaitable (the seed awaited it)."""

    def __await__(self) -> Generator[None, None, None]:
        return
        yield


STARTED = Started()


class MonitoringWriter:
    """Owns the recorder, the worker thread and the sinks of one monitoring configuration."""

    def __init__(self, config: MonitorConfig, sinks: Sequence[StorageBackend]) -> None:
        self.config = config
        storage = config.storage
        self.recorder = Recorder(config.max_queue_size, config.overflow_policy,
                                 config.block_timeout_seconds, storage.batch_size,
                                 on_spill=self._spill_overflow_record, max_bytes=config.max_queue_bytes)
        self.recorder.sampler = sampler_for(config.sampling.ratio, config.sampling.always_keep_errors)
        self.builder = EventBuilder(config)
        # Events of plain records are made on demand by the delivering thread: with their own
        # builder, so the build thread's is never shared.
        self._lazy_builder = EventBuilder(config)
        self._build_thread = JobThread("llamonitor-build")
        self._caller_builder = EventBuilder(config)
        self._caller_lock = threading.Lock()
        self.spill = SpillStore(config.spill_dir)
        self._json_fixed_before = json_values_fixed()  # the JSON counter is per process
        self.sinks = [SinkState(s) for s in sinks]
        #: the flat layouts the sinks read from a batch, made ready on the build thread
        self._layouts = {getattr(s, "batch_layout", None) for s in sinks}
        for sink in sinks:  # exporters read live state (queue gauges) through this hook
            if hasattr(sink, "bind_writer"):
                sink.bind_writer(self)
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._flush_requests: list[threading.Event] = []
        self._stopping = False
        self._ready = threading.Event()
        self._init_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._overflow_pending = False
        self.processed = 0
        #: events taken from the queue and not yet delivered to every sink
        self.in_flight = 0
        self.batches = 0
        self.started_at: float | None = None
        #: when (monotonic) and at which ``processed`` count the writer last released memory
        self._released_at = 0.0
        self._released_at_processed = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> Started:
        """Start the worker thread and initialise every sink; re-raises an init failure.

        Synchronous; the result may be awaited (the seed's ``await writer.start()``).
        """
        if self._thread is not None:
            return STARTED
        self._thread = threading.Thread(target=self._run, name="llamonitor-writer", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"llamonitor writer did not start within {timeout}s")
        if self._init_error is not None:
            self._thread.join(5)
            raise self._init_error
        self.started_at = time.time()
        return STARTED

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive and not shutting down."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Block until everything enqueued before this call is written (or spilled)."""
        if not (self._thread and self._thread.is_alive()):
            return len(self.recorder) == 0
        done = threading.Event()
        with self._lock:
            self._flush_requests.append(done)
        self.recorder.wake.set()
        return done.wait(timeout)

    async def aflush(self, timeout: float | None = 30.0) -> bool:
        """:meth:`flush` without blocking the caller's event loop."""
        return await asyncio.to_thread(self.flush, timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Drain the queue, close sinks and stop. Returns ``False`` if it timed out.

        On time-out the events still queued are built and spilled from the calling thread, so
        ``llamonitor replay`` can send them later: nothing accepted is dropped.
        """
        timeout = self.config.shutdown_timeout_seconds if timeout is None else timeout
        thread = self._thread
        if thread is None:
            return True
        with self._lock:
            self._stopping = True
        self.recorder.wake.set()
        thread.join(timeout)
        if thread.is_alive() or len(self.recorder):
            # Timed out (or the worker is gone): spill what is still queued, from this thread.
            leftover = self.recorder.take(len(self.recorder))
            for rec in leftover:
                self._spill_overflow_record(rec)
            logger.warning("llamonitor: shutdown did not drain within %.1fs; %d queued events were spilled "
                           "to %s for `llamonitor replay`", timeout, len(leftover), self.config.spill_dir)
            return False
        return True

    async def ashutdown(self, timeout: float | None = None) -> bool:
        """:meth:`shutdown` without blocking the caller's event loop."""
        return await asyncio.to_thread(self.shutdown, timeout)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(events)`` from the worker after each batch is built (live feeds)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        try:
            self._listeners.remove(listener)
        except ValueError:
            pass

    # -- health --------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Counters: everything accepted is either queued, written, spilled or counted lost."""
        rec = self.recorder
        return {
            "running": self.running,
            "queue_size": len(rec),
            "queue_capacity": rec.max_size,
            "in_flight": rec.held,
            "queue_bytes": rec.bytes,
            "queue_bytes_capacity": rec.max_bytes,
            "overflow_policy": rec.policy,
            "processed": self.processed,
            "batches": self.batches,
            "build_errors": self.builder.build_errors,
            "fast_path_events": self.builder.plain_built,
            "sanitized_values": (self.builder.sanitized_values + self._caller_builder.sanitized_values
                                 + json_values_fixed() - self._json_fixed_before),
            "dropped_overflow": rec.dropped_overflow,
            "sampled_out": rec.sampler.sampled_out if rec.sampler is not None else 0,
            "spilled_overflow": rec.spilled_overflow,
            "blocked_calls": rec.blocked_total,
            "collector_errors": dict(self.builder.collector_errors),
            "sinks": {s.name: s.as_dict() for s in self.sinks},
            "spill_dir": str(self.spill.root),
        }

    # -- worker thread -------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            try:
                for state in self.sinks:
                    loop.run_until_complete(state.sink.initialize())
            except BaseException as exc:
                self._init_error = exc
                self._ready.set()
                return
            self._ready.set()
            try:
                from llamonitor.schema.arrow import warm_up

                warm_up()
                if self.config.auto_replay:
                    self._startup_replay()
                self._main()
            except BaseException:  # pragma: no cover - a bug; never die silently
                logger.exception("llamonitor: writer thread crashed; events now stay queued")
                raise
        finally:
            self._build_thread.close()
            for state in self.sinks:
                try:
                    loop.run_until_complete(state.sink.close())
                except Exception:
                    logger.exception("llamonitor: closing sink %s failed", state.name)
            loop.close()

    def _main(self) -> None:
        rec = self.recorder
        storage = self.config.storage
        batch_size, max_batch, interval = storage.batch_size, storage.max_batch_size, storage.flush_interval_seconds
        oldest: float | None = None
        while True:
            if len(rec) < batch_size:
                wait = interval if oldest is None else max(0.0, oldest + interval - time.monotonic())
                rec.wake.wait(wait)
            rec.wake.clear()
            with self._lock:
                requests, self._flush_requests = self._flush_requests, []
                stopping = self._stopping
            now = time.monotonic()
            if len(rec) and oldest is None:
                oldest = now
            force = bool(requests) or stopping or (oldest is not None and now - oldest >= interval)
            if not force and oldest is not None and len(rec) >= batch_size:
                self._pace(min(oldest + interval, now + PACE_MAX_SECONDS))
            # When forced, write what is queued now (not what producers add meanwhile).
            target = len(rec) if force else 0
            # Pipelined: the build thread turns the next batch's records into rows while this
            # thread delivers the current one (mostly waiting on a socket or file, without the GIL).
            # Taken records stay counted against the queue's bounds until delivered, so what is in
            # memory (queued + being built + being written) never exceeds max_queue_size.
            pending: Job[EventBatch] | None = None
            pending_records, pending_bytes = 0, 0
            # At most what is queued now: producers faster than the writer would otherwise keep
            # this loop going and a flush request (read above, once per round) would never be
            # answered while they run.
            budget = len(rec)
            while budget > 0 and (len(rec) >= batch_size or target > 0):
                records, nbytes = rec.take_held(min(max_batch, budget))
                budget -= len(records)
                target -= len(records)
                self.in_flight += len(records)
                future = self._build_thread.submit(self._build, records)
                if pending is not None:
                    self._process(self._built(pending), pending_records, pending_bytes)
                pending, pending_records, pending_bytes = future, len(records), nbytes
            if pending is not None:
                self._process(self._built(pending), pending_records, pending_bytes)
            # The last batch (records, built columns) is not kept alive while idle.
            pending = future = records = None  # type: ignore[assignment]
            oldest = now if len(rec) else None
            self._housekeeping()
            if not len(rec):
                self._release_memory(bool(requests) or stopping)
            for done in requests:
                done.set()
            if stopping and not len(rec):
                return

    def _pace(self, until: float) -> None:
        """Let a burst of calls finish before taking its events, while the queue has room.

        The writer's work on a batch holds the GIL the application's threads need. While
        producers are still adding events (more arrived in the last :data:`PACE_POLL_SECONDS`)
        and less than half the queue is used, it waits (up to ``until``: the flush interval, at
        most :data:`PACE_MAX_SECONDS`), then takes the burst in large batches, mostly once the
        application is idle or waiting. A caller is never made to wait for it: half the queue
        is still free, and a flush or stop ends the wait within a poll.
        """
        rec = self.recorder
        room = rec.max_size // 2
        seen = len(rec)
        while True:
            time.sleep(PACE_POLL_SECONDS)
            queued = len(rec)
            if queued <= seen or queued + rec.held >= room or time.monotonic() >= until:
                return
            if rec.max_bytes and rec.bytes * 2 >= rec.max_bytes:
                return
            with self._lock:
                if self._flush_requests or self._stopping:
                    return
            seen = queued

    def _release_memory(self, asked: bool) -> None:
        """Idle after a burst (or flushed): give the allocators' freed pages back (see transport/memory.py)."""
        written = self.processed - self._released_at_processed
        if written < (1 if asked else RELEASE_AFTER_EVENTS):
            return
        now = time.monotonic()
        if now - self._released_at < RELEASE_EVERY_SECONDS and not asked:
            return
        self._released_at, self._released_at_processed = now, self.processed
        try:
            # mimalloc frees a thread's pages only when that thread asks: the build thread first
            self._build_thread.submit(release_arrow_pool).result()
            release_unused_memory()
        except Exception:  # pragma: no cover - never let housekeeping stop the writer
            logger.debug("llamonitor: releasing unused memory failed", exc_info=True)

    def _built(self, job: Job[EventBatch]) -> EventBatch:
        # A big measure_text batch can take seconds to build: that is progress, not a stall.
        while not job.wait(self.recorder.beat_every):
            self.recorder.heartbeat()
        return job.result()

    def _build(self, records: list[Any]) -> EventBatch:
        """Build a batch (on the build thread), with the flat layouts the sinks read made ready."""
        batch = self.builder.build_batch(records, to_event=self._lazy_builder.build)
        layouts = self._layouts
        if "rows" in layouts:
            batch.rows  # noqa: B018 - computed here, off the delivering thread
        if "columns" in layouts:
            batch.columns  # noqa: B018
        if "compact" in layouts:
            batch.compact_rows()
        return batch

    def _process(self, events: EventBatch, taken: int, nbytes: int = 0) -> None:
        """Deliver a built batch of ``taken`` held records to the listeners and every sink."""
        self.processed += taken
        try:
            if not events:
                return
            self.batches += 1
            for listener in list(self._listeners):
                try:
                    listener(events)
                except Exception:
                    logger.exception("llamonitor: live listener failed")
            for state in self.sinks:
                self._deliver(state, events)
        finally:
            self.in_flight -= taken
            self.recorder.release(taken, nbytes)

    def _describe(self, exc: BaseException) -> str:
        """An exception as text for logs and ``health()``, with any credentials masked.

        Sinks should not put secrets in their errors, but a driver may echo a connection
        string back: the configured DSN and any URL password are scrubbed here, once for all.
        """
        from llamonitor.backends.dsn import scrub

        try:
            text = f"{type(exc).__name__}: {exc}"
        except Exception:
            text = type(exc).__name__
        return scrub(text, self.config.storage.connection_string)[:500]

    def _write(self, state: SinkState, events: Sequence[MetricEvent]) -> None:
        assert self._loop is not None
        timeout = self.config.write_timeout_seconds
        try:
            self._loop.run_until_complete(self._beating(asyncio.wait_for(state.sink.write_batch(events), timeout)))
        except asyncio.TimeoutError:
            raise TimeoutError(f"write_batch did not finish within write_timeout_seconds={timeout:g}") from None

    async def _beating(self, write: Any) -> None:
        # A write in progress (bounded by write_timeout_seconds) is progress for blocked producers.
        async def beat() -> None:
            while True:
                self.recorder.heartbeat()
                await asyncio.sleep(self.recorder.beat_every)

        beater = asyncio.ensure_future(beat())
        try:
            await write
        finally:
            beater.cancel()

    def _deliver(self, state: SinkState, events: Sequence[MetricEvent]) -> None:
        cfg = self.config
        if state.degraded and time.monotonic() < state.probe_at:
            self._spill_batch(state, events)
            return
        attempts = 1 if state.degraded else cfg.max_retries
        delivered = False
        for attempt in range(attempts):
            try:
                self._write(state, events)
            except Exception as exc:
                if refused_data(exc):
                    # Retrying cannot help: write the rest, dead-letter what the sink refuses alone.
                    if not self._isolate(state, events, exc):
                        return  # the sink failed meanwhile: the rest was spilled, the circuit opened
                    delivered = True
                    break
                state.failed_attempts += 1
                state.last_error = self._describe(exc)
                if state.failed_attempts == 1 or attempt == attempts - 1:
                    logger.warning("llamonitor: sink %s failed (attempt %d/%d): %s", state.name,
                                   attempt + 1, attempts, state.last_error)
                if attempt < attempts - 1:
                    delay = min(cfg.retry_max_backoff_seconds, cfg.retry_backoff_seconds * (2 ** attempt))
                    self._backoff(delay)
                continue
            state.written += len(events)
            delivered = True
            break
        if not delivered:
            self._open_circuit(state)
            self._spill_batch(state, events)
            return
        if state.degraded:
            state.degraded = False
            logger.warning("llamonitor: sink %s recovered", state.name)
            if cfg.auto_replay:
                self._replay_sink(state)

    def _open_circuit(self, state: SinkState) -> None:
        state.degraded = True
        state.probe_at = time.monotonic() + self.config.circuit_open_seconds

    def _dead_letter(self, state: SinkState, event: MetricEvent, exc: BaseException) -> None:
        """Keep one event the sink refused on its own (with the error) in the dead-letter folder."""
        error = self._describe(exc)
        try:
            path = self.spill.write_dead_letter(state.name, event, error)
        except Exception:
            state.lost_events += 1
            logger.exception("llamonitor: could not dead-letter an event refused by sink %s: it is lost "
                             "(counted in lost_events)", state.name)
            return
        state.dead_lettered += 1
        if state.dead_lettered == 1:
            # The first line only: servers add the refused row's values (captured content...)
            # after it; the dead-letter file keeps the whole error.
            logger.warning("llamonitor: sink %s refused an event on its own (%s); it was written to %s, the "
                           "rest of its batch was stored (counted in dead_lettered; logged once)",
                           state.name, error.splitlines()[0][:300], path)

    def _isolate(self, state: SinkState, events: Sequence[MetricEvent], first_error: BaseException) -> bool:
        """Write ``events`` around the ones ``state``'s sink refuses; ``False`` if the sink failed meanwhile
        (what was not written is then spilled and the circuit opened)."""
        try:
            done = write_isolating(events, lambda part: self._write(state, part),
                                   lambda event, exc: self._dead_letter(state, event, exc), first_error)
        except IsolationInterrupted as stop:
            state.written += stop.done.written
            state.failed_attempts += 1
            state.last_error = self._describe(stop.cause)
            logger.warning("llamonitor: sink %s failed while isolating a refused event: %s", state.name,
                           state.last_error)
            self._open_circuit(state)
            self._spill_batch(state, stop.remaining)
            return False
        state.written += done.written
        return True

    def _backoff(self, delay: float) -> None:
        # Sleep in slices, telling blocked producers the writer is alive (retrying, not stalled).
        end = time.monotonic() + delay
        while (left := end - time.monotonic()) > 0:
            self.recorder.heartbeat()
            time.sleep(min(left, self.recorder.beat_every))
        self.recorder.heartbeat()

    def _spill_batch(self, state: SinkState, events: Sequence[MetricEvent]) -> None:
        try:
            self.spill.write_batch(state.name, events)
            state.spilled_batches += 1
            state.spilled_events += len(events)
        except Exception as exc:
            if refused_data(exc) and len(events) > 0:
                self._spill_isolating(state, events, exc)
                return
            state.lost_events += len(events)
            logger.exception("llamonitor: could not spill %d events for sink %s: they are lost "
                             "(counted in lost_events)", len(events), state.name)

    def _spill_isolating(self, state: SinkState, events: Sequence[MetricEvent], first_error: BaseException) -> None:
        # A value the spill file cannot hold: spill the rest, dead-letter the event alone.
        def spill_part(part: Sequence[MetricEvent]) -> None:
            self.spill.write_batch(state.name, part)
            state.spilled_batches += 1
            state.spilled_events += len(part)

        try:
            write_isolating(events, spill_part, lambda event, exc: self._dead_letter(state, event, exc),
                            first_error)
        except IsolationInterrupted as stop:  # the disk itself failed
            state.lost_events += len(stop.remaining)
            logger.error("llamonitor: could not spill %d events for sink %s: they are lost (counted in "
                         "lost_events): %s", len(stop.remaining), state.name, self._describe(stop.cause))

    def _replay_sink(self, state: SinkState) -> bool:
        """Send this sink's spilled batches, oldest first; ``False`` when the sink failed.

        A file whose events the sink refuses is written around them (the refused ones are
        dead-lettered), and a file that cannot be read is moved to the dead-letter folder: neither
        stops the replay. Only a failing sink does (it is down; its files wait for the next probe).
        """
        for path in self.spill.pending(state.name):
            claimed = self.spill.claim(path)
            if claimed is None:
                continue
            try:
                events = self.spill.read(claimed)
            except Exception as exc:
                moved = self.spill.quarantine(claimed, state.name, self._describe(exc))
                state.quarantined_files += 1
                logger.error("llamonitor: spill file %s cannot be read (%s); moved to %s", path.name,
                             self._describe(exc), moved)
                continue
            written = len(events)
            try:
                self._write(state, events)
            except Exception as exc:
                try:
                    if not refused_data(exc):
                        raise
                    written = write_isolating(events, lambda part: self._write(state, part),
                                              lambda event, err: self._dead_letter(state, event, err), exc).written
                except Exception as failure:
                    cause = failure.cause if isinstance(failure, IsolationInterrupted) else failure
                    self.spill.release(claimed)
                    state.failed_attempts += 1
                    state.last_error = "replay: " + self._describe(cause)
                    logger.warning("llamonitor: replay of %s to %s failed: %s", path.name, state.name,
                                   state.last_error)
                    return False
            claimed.unlink(missing_ok=True)
            state.replayed_events += written
        return True

    def _startup_replay(self) -> None:
        # Spill left by an earlier run (crash, outage, shutdown time-out) goes out first.
        for state in self.sinks:
            if self.spill.pending(state.name):
                self._replay_sink(state)
        if self.spill.overflow_files():
            self._overflow_pending = True

    def _housekeeping(self) -> None:
        # Timestamps follow the wall clock again after a step or a resumed sleep (clock.py).
        clock.resync()
        # Overflow spilled by callers goes to every sink once the queue has room again.
        if self._overflow_pending and len(self.recorder) < self.recorder.max_size // 2:
            self._overflow_pending = False
            self.spill.close_overflow()
            for path in self.spill.overflow_files():
                claimed = self.spill.claim(path)
                if claimed is None:
                    continue
                try:
                    events = self.spill.read(claimed)
                except Exception:
                    self.spill.release(claimed)
                    logger.exception("llamonitor: unreadable overflow file %s left in place", path)
                    continue
                # Each sink takes the events or spills them into its own folder, in batches no
                # larger than a normal write.
                step = self.config.storage.max_batch_size
                for start in range(0, len(events), step):
                    chunk = events[start:start + step]
                    for state in self.sinks:
                        self._deliver(state, chunk)
                claimed.unlink(missing_ok=True)
        for state in self.sinks:
            if state.degraded and time.monotonic() >= state.probe_at and not len(self.recorder):
                # Idle but degraded: probe by replaying what was spilled.
                state.probe_at = time.monotonic() + self.config.circuit_open_seconds
                if self._replay_sink(state):
                    state.degraded = False
                    logger.warning("llamonitor: sink %s recovered", state.name)

    def _spill_overflow_record(self, record: Any) -> None:
        # Runs in the caller's thread (policy "spill", or shutdown time-out): build and append.
        with self._caller_lock:
            event = self._caller_builder.build(record)
        self.spill.append_overflow(event)
        self._overflow_pending = True

    # -- seed API (llmops_monitoring.transport.writer.MonitoringWriter) -----------------------
    @classmethod
    async def get_instance(cls, config: MonitorConfig | None = None, auto_start: bool = True) -> MonitoringWriter:
        """The active writer; starts monitoring with ``config`` when none runs (seed singleton API)."""
        from llamonitor import runtime

        writer = runtime.get_writer()
        if writer is None:
            writer = await runtime.initialize_monitoring(config)
        return writer

    @classmethod
    def get_instance_sync(cls) -> MonitoringWriter | None:
        """The active writer, or ``None`` (seed name of ``llamonitor.get_writer()``)."""
        from llamonitor import runtime

        return runtime.get_writer()

    async def stop(self, timeout: float = 30.0) -> None:
        """Drain and stop (seed name); also ends monitoring when this is the active writer."""
        from llamonitor import runtime

        if runtime.get_writer() is self:
            await runtime.shutdown_monitoring(timeout)
        else:
            await self.ashutdown(timeout)

    async def health_check(self) -> dict[str, Any]:
        """:meth:`health` plus the seed's keys: ``buffer_size`` (events being built or written),
        ``backend_healthy`` (no sink degraded) and, per exporter, its ``health_check()`` under its
        name (``"prometheus"``, ``"datadog"``)."""
        health = self.health()
        health["buffer_size"] = self.in_flight
        health["backend_healthy"] = self.running and not any(s.degraded for s in self.sinks)
        for state in self.sinks:
            exporter: Any = state.sink
            kind = getattr(exporter, "exporter_type", None)
            if isinstance(kind, str):
                health[kind] = exporter.health_check()
        return health

    async def write_event(self, event: MetricEvent) -> None:
        """Queue an already built event (seed API); it reaches every sink on the next write.

        Built events do not fit the recorder's raw records, so they take the overflow path:
        appended to the spill folder's overflow file, delivered to every sink by the worker.
        """
        await asyncio.to_thread(self.spill.append_overflow, event)
        self._overflow_pending = True
        self.recorder.wake.set()
