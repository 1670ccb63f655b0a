"""Test helpers for users of llamonitor (like OpenTelemetry's ``InMemorySpanExporter``).

``InMemoryBackend`` keeps every written event in a list so an application's own tests can
assert what was recorded::

    backend = InMemoryBackend()
    register_backend("memory", lambda cfg: backend)
    initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="memory")))
    ...; flush_sync()
    assert backend.events[0].operation_name == "generate"

It can also simulate an outage (``fail_times``, ``fail_forever``), a slow destination
(``delay``) or a destination that refuses some values (``refuse``), which is how the pipeline's
own fault tests drive retries, spilling and dead-lettering.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

from llamonitor.backends.base import StorageBackend
from llamonitor.schema.events import MetricEvent


class InMemoryBackend(StorageBackend):
    """A storage backend that keeps events in memory."""

    name = "memory"

    def __init__(self, *, fail_times: int = 0, fail_forever: bool = False, delay: float = 0.0,
                 refuse: Callable[[MetricEvent], bool] | None = None) -> None:
        self.events: list[MetricEvent] = []
        #: the first ``fail_times`` writes raise ``ConnectionError``
        self.fail_times = fail_times
        #: every write raises while this is true
        self.fail_forever = fail_forever
        #: seconds each write takes
        self.delay = delay
        #: a batch holding an event for which this is true is refused whole (``ValueError``), as a
        #: database refuses a batch with one value it cannot store
        self.refuse = refuse
        self.attempts = 0
        self.initialized = False
        self.closed = False
        self._lock = threading.Lock()

    async def initialize(self) -> None:
        self.initialized = True

    async def write_batch(self, events: Sequence[MetricEvent]) -> None:
        self.attempts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_forever or self.attempts <= self.fail_times:
            raise ConnectionError(f"in-memory backend: simulated outage (attempt {self.attempts})")
        if self.refuse is not None and any(self.refuse(e) for e in events):
            raise ValueError("in-memory backend: a value of this batch is refused")
        with self._lock:
            self.events.extend(events)

    async def close(self) -> None:
        self.closed = True

    def ids(self) -> list[str]:
        """Event ids in write order."""
        with self._lock:
            return [e.event_id for e in self.events]

    def clear(self) -> None:
        """Forget recorded events."""
        with self._lock:
            self.events.clear()
