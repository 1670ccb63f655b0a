"""The hot path: hand a raw record to the writer without blocking (by default) or allocating much.

A record is a plain tuple (see :mod:`llamonitor.transport.records`); ``collections.deque``
``append`` / ``popleft`` are atomic under the GIL, so producers on any thread or event loop
never take a lock while the queue has room. When it is full, the configured overflow policy
decides, and every outcome is counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("llamonitor")


class Recorder:
    """Bounded buffer between callers and the worker thread."""

    __slots__ = ("_count_lock", "_on_spill", "_space", "_waiters", "block_timeout", "blocked_total", "dq",
                 "dropped_overflow", "keep_io", "max_size", "policy", "spilled_overflow", "wake", "wake_at")

    def __init__(self, max_size: int, policy: str, block_timeout: float, wake_at: int,
                 on_spill: Callable[[Any], None] | None = None) -> None:
        self.dq: deque[Any] = deque()
        self.max_size = max_size
        self.policy = policy
        self.block_timeout = block_timeout
        #: the worker is woken early once this many records wait (its batch size)
        self.wake_at = max(1, min(wake_at, max_size))
        self.wake = threading.Event()
        self._space = threading.Condition(threading.Lock())
        self._waiters = 0
        self._on_spill = on_spill
        # Overflow is the slow path: a lock keeps its counters exact under many producers.
        self._count_lock = threading.Lock()
        self.dropped_overflow = 0
        self.spilled_overflow = 0
        self.blocked_total = 0
        #: whether calls whose spec defers to the config keep args/result (content capture)
        self.keep_io = False

    def put(self, record: Any) -> None:
        """Enqueue ``record``; O(1) and lock-free unless the queue is full."""
        dq = self.dq
        if len(dq) < self.max_size:
            dq.append(record)
            if len(dq) >= self.wake_at and not self.wake.is_set():
                self.wake.set()
            return
        self._overflow(record)

    def _overflow(self, record: Any) -> None:
        policy = self.policy
        if policy == "block":
            if self._wait_for_space():
                self.dq.append(record)
                return
            self._count_drop()
            _warn_once("queue full for %.1fs (policy 'block'): dropping events; see health()['dropped_overflow']",
                       self.block_timeout)
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

    def _wait_for_space(self) -> bool:
        with self._count_lock:
            self.blocked_total += 1
        deadline = time.monotonic() + self.block_timeout
        self.wake.set()
        with self._space:
            self._waiters += 1
            try:
                while len(self.dq) >= self.max_size:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    # Short slices: a notify can race with our registration as a waiter.
                    self._space.wait(min(remaining, 0.01))
                    self.wake.set()
                return True
            finally:
                self._waiters -= 1

    def take(self, limit: int) -> list[Any]:
        """Pop up to ``limit`` records (worker side)."""
        dq = self.dq
        n = min(limit, len(dq))
        popleft = dq.popleft
        batch = [popleft() for _ in range(n)]
        if self._waiters:
            with self._space:
                self._space.notify_all()
        return batch

    def __len__(self) -> int:
        return len(self.dq)


_warned: set[str] = set()


def _warn_once(message: str, *args: Any) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning("llamonitor: " + message, *args)
