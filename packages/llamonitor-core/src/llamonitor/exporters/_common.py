"""Shared pieces of the exporters: the sink base class, label bounding, lazy imports.

Failure policy (all exporters): an exporter never raises from ``write_batch``. The worker
retries a raising sink and spills its batches for replay, which suits storage but not
exporters: a metrics exporter replaying a spilled batch would report old events as new counts,
and retrying a dead collector would stall the writer thread that also feeds storage. So an
exporter counts its own failures (``errors``, ``dropped_*``) and drops what it could not send;
its :meth:`ExporterSink.exporter_stats` (also shown under ``health()["sinks"][name]["exporter"]``)
says what was dropped.

Stale events: metrics exporters (Prometheus, Datadog) ignore events that ended before the
exporter was created (overflow spilled by an earlier process and replayed at start-up) and
count them in ``skipped_stale``; the OTLP exporter sends them, since a span keeps its own
timestamps and ids.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from llamonitor.backends.base import StorageBackend
from llamonitor.schema.events import MetricEvent

logger = logging.getLogger("llamonitor")

#: label / tag value of events without a model, agent or error type
MISSING = "unknown"
#: label / tag value that replaces values beyond the cardinality bound
OTHER = "other"
#: events ending this long before the exporter was created still count (clock jitter)
STALE_GRACE_NS = 1_000_000_000
_MAX_VALUE_CHARS = 128


def require(module: str, extra: str) -> Any:
    """Import an optional dependency, or raise an ImportError that names the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"this exporter needs {module!r}: pip install 'llamonitor[{extra}]'") from exc


class LabelLimiter:
    """Bounds the distinct values of each label; values beyond the bound become ``"other"``.

    Not thread-safe on its own: callers hold their own lock (the writer thread is the only
    writer anyway).
    """

    __slots__ = ("collapsed", "limit", "seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: dict[str, set[str]] = {}
        #: label name -> events whose value was reported as ``"other"``
        self.collapsed: dict[str, int] = {}

    def __call__(self, label: str, value: str | None) -> str:
        """The value to report for ``label``."""
        if not value:
            return MISSING
        if len(value) > _MAX_VALUE_CHARS:
            value = value[:_MAX_VALUE_CHARS]
        seen = self.seen.get(label)
        if seen is None:
            seen = self.seen[label] = set()
        if value in seen:
            return value
        if len(seen) < self.limit:
            seen.add(value)
            return value
        self.collapsed[label] = self.collapsed.get(label, 0) + 1
        return OTHER


def agent_of(event: MetricEvent) -> str | None:
    """The agent name (or id) of an event, if the event has one."""
    agent = event.agent
    if agent is None:
        return None
    return agent.agent_name or agent.agent_id


def token_counts(event: MetricEvent) -> list[tuple[str, int]]:
    """``(type, tokens)`` pairs for input, output, cached and reasoning tokens (non-zero only).

    Provider usage wins; measured text tokens are the fallback for input and output.
    """
    out: list[tuple[str, int]] = []
    usage = event.usage
    inp = out_tokens = None
    if usage is not None:
        inp, out_tokens = usage.input_tokens, usage.output_tokens
        if usage.cached_input_tokens:
            out.append(("cached", usage.cached_input_tokens))
        if usage.reasoning_tokens:
            out.append(("reasoning", usage.reasoning_tokens))
    tm = event.text_metrics
    if tm is not None:
        if inp is None:
            inp = tm.input_tokens
        if out_tokens is None:
            out_tokens = tm.output_tokens
    if inp:
        out.insert(0, ("input", inp))
    if out_tokens:
        out.insert(1 if inp else 0, ("output", out_tokens))
    return out


def cost_of(event: MetricEvent) -> float | None:
    """Total cost of an event in US dollars, when priced."""
    cost = event.cost
    return cost.total_cost_usd if cost is not None else None


def chars_of(event: MetricEvent) -> int | None:
    """Characters processed (input and output) when the text was measured."""
    tm = event.text_metrics
    return tm.char_count if tm is not None else None


class ExporterSink(StorageBackend):
    """Base class of the exporters: a sink that counts its failures instead of raising.

    Subclasses implement :meth:`_export` (called from the writer thread's event loop).
    ``skip_stale`` drops events that ended before the exporter was created.
    """

    name = "exporter"
    skip_stale = True

    def __init__(self) -> None:
        self._created_ns = time.time_ns() - STALE_GRACE_NS
        self._stats_lock = threading.Lock()
        self._counters: dict[str, int] = {"events": 0, "skipped_stale": 0, "errors": 0}
        self._last_error: str | None = None
        self._writer_ref: weakref.ReferenceType[Any] | None = None

    # -- hooks --------------------------------------------------------------------------------
    def bind_writer(self, writer: Any) -> None:
        """Called by the writer that owns this sink (queue gauges read its live state)."""
        self._writer_ref = weakref.ref(writer)

    @property
    def writer(self) -> Any:
        """The owning writer, or ``None`` when not bound (or gone)."""
        ref = self._writer_ref
        return ref() if ref is not None else None

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to counter ``key`` (thread-safe)."""
        with self._stats_lock:
            self._counters[key] = self._counters.get(key, 0) + n

    def note_error(self, where: str, exc: BaseException) -> None:
        """Count an error; log the first one of each place (never with secrets: callers pass
        exceptions whose text names no credential)."""
        text = f"{type(exc).__name__}: {exc}"[:300]
        with self._stats_lock:
            self._counters["errors"] += 1
            key = f"errors_{where}"
            first = key not in self._counters
            self._counters[key] = self._counters.get(key, 0) + 1
            self._last_error = f"{where}: {text}"
        if first:
            logger.warning("llamonitor: %s exporter: %s failed: %s (counted in health(); logged once)",
                           self.name, where, text)

    def exporter_stats(self) -> dict[str, Any]:
        """Counters of this exporter (sent / dropped / errors ...)."""
        with self._stats_lock:
            out: dict[str, Any] = dict(self._counters)
            out["last_error"] = self._last_error
        return out

    async def health(self) -> dict[str, Any]:
        """:meth:`exporter_stats` with the exporter's name."""
        return {"backend": self.name, **self.exporter_stats()}

    # -- the sink -----------------------------------------------------------------------------
    async def write_batch(self, events: Sequence[MetricEvent]) -> None:
        """Export ``events``; never raises (failures are counted, see the module docs)."""
        try:
            if self.skip_stale:
                since = self._created_ns
                fresh = [e for e in events if e.end_time_ns >= since]
                if len(fresh) != len(events):
                    self.count("skipped_stale", len(events) - len(fresh))
                events = fresh
            if events:
                self.count("events", len(events))
                await self._export(events)
        except Exception as exc:
            self.note_error("export", exc)

    async def _export(self, events: Sequence[MetricEvent]) -> None:
        raise NotImplementedError

    # -- seed API (``llmops_monitoring.exporters.MetricsExporter``) ------------------------------
    @property
    def exporter_type(self) -> str:
        """The exporter's name (``"prometheus"``, ``"datadog"``, ...)."""
        return self.name

    def record_event(self, event: MetricEvent) -> None:
        """Count one event now (the seed's manual call; the writer feeds every batch by itself,
        so call this only for events the writer does not see). Never raises."""
        try:
            self.count("events")
            self._record([event])
        except Exception as exc:
            self.note_error("record_event", exc)

    def _record(self, events: Sequence[MetricEvent]) -> None:
        """Synchronous counting of ``events`` (exporters that aggregate in memory)."""
        raise NotImplementedError(f"the {self.name} exporter records only the batches the writer gives it")

    async def shutdown(self) -> None:
        """Seed name of :meth:`close`."""
        await self.close()

    def health_check(self) -> dict[str, Any]:
        """The seed's health dict: ``healthy`` (no failure counted), ``metrics_exported``
        (events counted) plus :meth:`exporter_stats`."""
        stats = self.exporter_stats()
        return {"healthy": stats.get("errors", 0) == 0, "metrics_exported": stats.get("events", 0), **stats}
