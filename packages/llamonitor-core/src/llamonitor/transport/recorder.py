"""The hot path: hand a raw record to the writer without blocking (by default) or allocating much.

A record is a plain tuple (see :mod:`llamonitor.transport.records`); ``collections.deque``
``append`` / ``popleft`` are atomic under the GIL, so producers on any thread or event loop
never take a lock while the queue has room. When it is full, the configured overflow policy
decides, and every outcome is counted.

Two bounds, both over everything in memory (queued + being built + being written):

* events: ``max_size``. The writer *holds* the records it took until their batch is delivered
  (:meth:`Recorder.take_held` / :meth:`Recorder.release`), and producers see
  ``limit = max_size - held``, so a SIGKILL loses at most ``max_size`` events.
* bytes: ``max_bytes``, over an *estimate* of the payload a record keeps. Only records that
  keep the call's args / result (content capture, ``measure_text``, collectors) are sized:
  ``len()`` of a ``str`` / ``bytes``, a fixed :data:`CONTAINER_ESTIMATE` for anything else.
  A plain record (args slot ``None``) pays one ``is None`` test.

Policy ``block`` waits while the writer makes progress (takes, releases, builds, retries,
writes: :meth:`Recorder.heartbeat`); a producer is dropped (and counted) only once the writer
made no progress for ``block_timeout`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llamonitor.transport.sampling import TraceSampler

from llamonitor.transport.records import ARGS, KWARGS, RESULT, Record

logger = logging.getLogger("llamonitor")

#: bytes counted for a kept value that is not ``str`` / ``bytes`` (a list, a dict, an object)
CONTAINER_ESTIMATE = 512
#: bytes counted for a sized record itself (tuple, spec reference, ids)
RECORD_ESTIMATE = 256


_args_of = itemgetter(ARGS)


def estimate_bytes(record: Record) -> int:
    """Estimated bytes a record keeps alive: cheap, deterministic (same answer at put and take)."""
    args = record[ARGS]
    if args is None:
        return 0
    total = RECORD_ESTIMATE
    # Inlined (no helper call per value): this runs on the hot path of sized records.
    kwargs = record[KWARGS]
    for value in (record[RESULT], *args, *(kwargs.values() if kwargs else ())):
        kind = type(value)
        if kind is str or kind is bytes:
            total += len(value)
        elif value is not None:
            total += CONTAINER_ESTIMATE
    return total


class Recorder:
    """Bounded buffer between callers and the worker thread."""

    __slots__ = ("_count_lock", "_on_spill", "_space", "_waiters", "beat_every", "block_timeout", "blocked_total",
                 "bytes",
                 "dq", "dropped_overflow", "held", "held_bytes", "keep_io", "limit", "max_bytes", "max_size",
                 "policy", "progress_at", "sampler", "spilled_overflow", "wake", "wake_at")

    def __init__(self, max_size: int, policy: str, block_timeout: float, wake_at: int,
                 on_spill: Callable[[Any], None] | None = None, max_bytes: int = 0) -> None:
        self.dq: deque[Any] = deque()
        self.max_size = max_size
        #: room for queued records: ``max_size`` minus what the writer holds (read by ``put``)
        self.limit = max_size
        #: records the writer took and has not delivered yet
        self.held = 0
        #: byte bound over sized records (``0``: no byte bound)
        self.max_bytes = max_bytes
        #: estimated bytes of sized records queued or held by the writer
        self.bytes = 0
        self.held_bytes = 0
        self.policy = policy
        self.block_timeout = block_timeout
        #: how often the busy writer signals progress: well inside the block timeout
        self.beat_every = min(0.1, max(0.005, block_timeout / 4))
        #: the worker is woken early once this many records wait (its batch size)
        self.wake_at = max(1, min(wake_at, max_size))
        self.wake = threading.Event()
        self._space = threading.Condition(threading.Lock())
        self._waiters = 0
        self._on_spill = on_spill
        # Overflow and sized records are the slow path: a lock keeps their counters exact.
        self._count_lock = threading.Lock()
        self.dropped_overflow = 0
        self.spilled_overflow = 0
        self.blocked_total = 0
        #: last time (monotonic) the writer made progress
        self.progress_at = time.monotonic()
        #: whether calls whose spec defers to the config keep args/result (content capture)
        self.keep_io = False
        #: head sampling the producers apply before :meth:`put` (``None``: every trace is kept);
        #: OTLP ingestion puts directly, its spans were sampled by the application
        self.sampler: TraceSampler | None = None

    def put(self, record: Record) -> None:
        """Enqueue ``record``; O(1) and lock-free unless the queue is full or the record is sized."""
        dq = self.dq
        if record[ARGS] is not None and self.max_bytes:
            self._put_sized(record)
            return
        if len(dq) < self.limit:
            dq.append(record)
            if len(dq) >= self.wake_at and not self.wake.is_set():
                self.wake.set()
            return
        self._overflow(record, 0)

    def _put_sized(self, record: Record) -> None:
        size = estimate_bytes(record)
        with self._count_lock:
            # One record always fits in an empty buffer, however large.
            if len(self.dq) < self.limit and (self.bytes + size <= self.max_bytes or not self.bytes):
                self.bytes += size
                self.dq.append(record)
                if len(self.dq) >= self.wake_at and not self.wake.is_set():
                    self.wake.set()
                return
        self._overflow(record, size)

    def _has_room(self, size: int) -> bool:
        if len(self.dq) >= self.limit:
            return False
        return not size or self.bytes + size <= self.max_bytes or not self.bytes

    def _overflow(self, record: Any, size: int) -> None:
        policy = self.policy
        if policy == "block":
            if self._wait_and_put(record, size):
                return
            self._count_drop()
            _warn_once("writer made no progress for %.1fs (policy 'block'): dropping events; "
                       "see health()['dropped_overflow']", self.block_timeout)
        elif policy == "spill" and self._on_spill is not None:
            try:
                self._on_spill(record)
            except Exception:
                self._count_drop()
                logger.exception("llamonitor: could not spill an overflowing event; it was dropped")
            else:
                with self._count_lock:
                    self.spilled_overflow += 1
        else:
            self._count_drop()
            _warn_once("queue full (policy %r): dropping events; see health()['dropped_overflow']", policy)

    def _count_drop(self) -> None:
        with self._count_lock:
            self.dropped_overflow += 1

    def _wait_and_put(self, record: Any, size: int) -> bool:
        """Wait for room while the writer makes progress; enqueue and return ``True`` once there is."""
        with self._count_lock:
            self.blocked_total += 1
        self.wake.set()
        # Stall time is counted in the waiter's own slices, each at most twice its length: time
        # this thread spent unscheduled (many threads, a busy machine) is not the writer's stall.
        seen, stalled, before = self.progress_at, 0.0, time.monotonic()
        slice_ = min(self.beat_every, 0.01)
        with self._space:
            self._waiters += 1
            try:
                while True:
                    with self._count_lock:
                        if self._has_room(size):
                            self.bytes += size
                            self.dq.append(record)
                            return True
                    now = time.monotonic()
                    if self.progress_at != seen:  # the writer moved: start counting again
                        seen, stalled = self.progress_at, 0.0
                    else:
                        stalled += min(now - before, 2 * slice_)
                    before = now
                    # Dropped only when the writer made no progress for block_timeout (not when
                    # it is busy retrying, building a big batch or writing slowly).
                    if stalled >= self.block_timeout:
                        return False
                    self._space.wait(slice_)
                    self.wake.set()
            finally:
                self._waiters -= 1

    def heartbeat(self) -> None:
        """The writer is working (building, writing, backing off): blocked producers keep waiting."""
        self.progress_at = time.monotonic()

    def take(self, limit: int) -> list[Any]:
        """Pop up to ``limit`` records (worker side, or shutdown spilling); they are released now."""
        batch, nbytes = self._pop(limit)
        if nbytes:
            with self._count_lock:
                self.bytes -= nbytes
        self._notify()
        return batch

    def take_held(self, limit: int) -> tuple[list[Any], int]:
        """Pop up to ``limit`` records the writer keeps counted until :meth:`release`."""
        batch, nbytes = self._pop(limit)
        with self._count_lock:
            self.held += len(batch)
            self.held_bytes += nbytes
            self.limit = max(0, self.max_size - self.held)
        self.progress_at = time.monotonic()
        return batch, nbytes

    def release(self, count: int, nbytes: int) -> None:
        """The writer delivered (or spilled) ``count`` held records: their room goes back."""
        with self._count_lock:
            self.held -= count
            self.held_bytes -= nbytes
            self.bytes -= nbytes
            self.limit = max(0, self.max_size - self.held)
        self.progress_at = time.monotonic()
        self._notify()

    def _pop(self, limit: int) -> tuple[list[Any], int]:
        dq = self.dq
        n = min(limit, len(dq))
        # ``iter(popleft, None)`` pops in C, one record at a time (a record is never ``None``):
        # no Python frame per record, and records producers append meanwhile stay queued.
        batch = list(islice(iter(dq.popleft, None), n))
        nbytes = 0
        if self.max_bytes:
            # Most records keep no arguments (estimate 0): found by one C-level pass, not a
            # Python loop over the batch while the application waits for the GIL.
            kept = list(map(_args_of, batch))
            if kept.count(None) != len(kept):
                nbytes = sum(map(estimate_bytes, batch))
        return batch, nbytes

    def _notify(self) -> None:
        if self._waiters:
            with self._space:
                self._space.notify_all()

    def __len__(self) -> int:
        return len(self.dq)


_warned: set[str] = set()


def _warn_once(message: str, *args: Any) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning("llamonitor: " + message, *args)
