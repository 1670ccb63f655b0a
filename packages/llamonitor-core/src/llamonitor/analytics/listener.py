"""Attaching an analysis service to the writer: one mixin for every service that reads batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llamonitor.schema.events import MetricEvent


class WriterListener:
    """Feeds every batch a writer builds to :meth:`process_batch`.

    The services that mix this in set ``self._attached = []`` in their ``__init__``; callbacks run
    on the writer thread, so ``process_batch`` must stay short.
    """

    _attached: list[Any]

    def process_batch(self, events: Sequence[MetricEvent]) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def attach(self, writer: Any = None) -> Any:
        """Receive every batch ``writer`` builds (default: the active writer from
        :func:`llamonitor.get_writer`); returns the writer."""
        if writer is None:
            from llamonitor.runtime import get_writer

            writer = get_writer()
            if writer is None:
                raise RuntimeError("monitoring is not initialised: call initialize_monitoring() first or pass a writer")
        writer.add_listener(self.process_batch)
        self._attached.append(writer)
        return writer

    def detach(self) -> None:
        """Stop receiving batches from every attached writer."""
        for writer in self._attached:
            writer.remove_listener(self.process_batch)
        self._attached.clear()
