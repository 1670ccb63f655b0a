"""The sink protocol every storage backend and exporter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from llamonitor.schema.events import MetricEvent


class StorageBackend(ABC):
    """A destination for batches of events.

    The worker calls ``initialize`` once, then ``write_batch`` from its own event loop (one
    call at a time per backend), then ``close``. ``write_batch`` must be idempotent for a
    batch that is re-delivered after a failure (backends key on ``event_id``) or document
    otherwise. Raise on failure: the worker retries, then spills.
    """

    #: a short stable name used in counters and spill folders
    name: str = "storage"
    #: what ``write_batch`` reads from an :class:`~llamonitor.schema.batch.EventBatch`: ``"rows"``,
    #: ``"compact"`` (its ``compact_rows()``), ``"columns"`` or ``None`` (the events); the writer
    #: makes it ready on its build thread
    batch_layout: str | None = None

    @abstractmethod
    async def initialize(self) -> None:
        """Create tables / folders; raise a clear error if the destination is unusable."""

    @abstractmethod
    async def write_batch(self, events: Sequence[MetricEvent]) -> None:
        """Persist ``events``; raise on failure."""

    async def write_event(self, event: MetricEvent) -> None:
        """Persist one event (defaults to a batch of one)."""
        await self.write_batch([event])

    @abstractmethod
    async def close(self) -> None:
        """Release connections and files."""

    async def health(self) -> dict[str, Any]:
        """Backend-specific health details (override to add more)."""
        return {"backend": self.name}
