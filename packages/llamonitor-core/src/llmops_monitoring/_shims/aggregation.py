"""Seed ``llmops_monitoring.aggregation`` (and ``transport.backends.query_base``).

``AggregationService`` is the seed's query facade; here it wraps the
:class:`~llamonitor.query.QueryBackend` of the configured storage and returns plain dicts
(events stay :class:`~llamonitor.schema.events.MetricEvent` objects). Each dict has the seed's
keys (``operation_name`` / ``count`` / ``error_count`` / ``avg_duration_ms`` / ``p95_duration_ms`` /
``total_characters`` / ``estimated_cost_usd``, ``event_count`` / ``operation_count`` /
``total_duration_ms``, ...) besides llamonitor's own. Figures llamonitor's queries do not keep
(characters, distinct operations of a session, spans of a trace) are counted from the matching
events. New code should call ``llamonitor.query.create_query_backend`` directly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, cast

from llamonitor.query import create_query_backend
from llamonitor.query.summary import GroupStats
from llamonitor.query.types import MAX_PAGE, EventFilter, QueryBackend, SessionInfo
from llamonitor.schema.config import MonitorConfig
from llamonitor.schema.events import MetricEvent

#: a package: the seed also imports ``aggregation.service``
__path__: list[str] = []

__all__ = ["AggregationService", "QueryBackend", "QueryFilter", "create_aggregation_service"]


@dataclass
class QueryFilter:
    """The seed's event filter; :meth:`to_event_filter` gives llamonitor's ``EventFilter``."""

    session_id: str | None = None
    trace_id: str | None = None
    operation_name: str | None = None
    operation_type: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    error_only: bool = False
    limit: int = 100
    offset: int = 0

    def to_event_filter(self) -> EventFilter:
        """The same conditions as an :class:`~llamonitor.query.types.EventFilter`."""
        return EventFilter(start=self.start_time, end=self.end_time, session_id=self.session_id,
                           trace_id=self.trace_id, operation_name=self.operation_name,
                           errors_only=self.error_only)


def _window(start_time: datetime | None, end_time: datetime | None, session_id: str | None = None) -> EventFilter:
    return EventFilter(start=start_time, end=end_time, session_id=session_id)


#: llamonitor's group label for a missing model; the seed said "unknown"
_NONE = "(none)"


async def _scan(backend: QueryBackend, flt: EventFilter, visit: Callable[[MetricEvent], None]) -> None:
    """Call ``visit`` on every event ``flt`` selects, page by page (one page in memory at a time)."""
    cursor: str | None = None
    while True:
        page = await backend.events(flt, limit=MAX_PAGE, cursor=cursor)
        for event in page.events:
            visit(event)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _chars(event: MetricEvent) -> int:
    tm = event.text_metrics
    return (tm.char_count or 0) if tm is not None else 0


async def _characters_by(backend: QueryBackend, flt: EventFilter, key: Callable[[MetricEvent], str]) -> dict[str, int]:
    totals: dict[str, int] = {}

    def visit(event: MetricEvent) -> None:
        n = _chars(event)
        if n:
            k = key(event)
            totals[k] = totals.get(k, 0) + n

    await _scan(backend, flt, visit)
    return totals


def _group_row(row: GroupStats, name: str, characters: dict[str, int]) -> dict[str, Any]:
    """llamonitor's group figures plus the seed's keys."""
    out = asdict(row)
    lat = row.latency
    out.update({name: "unknown" if name == "model" and row.key == _NONE else row.key, "count": row.events,
                "error_count": row.errors, "avg_duration_ms": lat.mean_ms if lat.mean_ms is not None else 0.0,
                "p50_duration_ms": lat.p50_ms, "p95_duration_ms": lat.p95_ms, "p99_duration_ms": lat.p99_ms,
                "total_characters": characters.get(row.key, 0), "estimated_cost_usd": row.cost_usd or 0.0})
    return out


class AggregationService:
    """Queries and aggregates stored events (seed API); ``await initialize()`` first."""

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self.config = config or MonitorConfig.for_local_dev()
        self.query_backend: QueryBackend | None = None

    async def initialize(self) -> None:
        """Create the query backend of ``config.storage``."""
        self.query_backend = create_query_backend(self.config.storage)

    async def close(self) -> None:
        """Release the backend's connections."""
        if self.query_backend is not None:
            await self.query_backend.close()
            self.query_backend = None

    @property
    def _backend(self) -> QueryBackend:
        if self.query_backend is None:
            raise RuntimeError("AggregationService is not initialised: await service.initialize() first")
        return self.query_backend

    async def query_events(self, session_id: str | None = None, trace_id: str | None = None,
                           operation_name: str | None = None, operation_type: str | None = None,
                           start_time: datetime | None = None, end_time: datetime | None = None,
                           error_only: bool = False, limit: int = 100, offset: int = 0) -> list[MetricEvent]:
        """Events matching the filter, newest first (as the seed's ``ORDER BY timestamp DESC``):
        ``offset`` skips the newest ones, ``limit`` caps the list."""
        flt = QueryFilter(session_id, trace_id, operation_name, operation_type, start_time, end_time,
                          error_only, limit, offset).to_event_filter()
        limit, offset = max(0, limit), max(0, offset)
        if limit == 0:
            return []
        backend = self._backend
        if operation_type is None:
            total = (await backend.summary(flt)).total_events
            if total <= offset:
                return []
            first = max(0, total - offset - limit)
            page = await backend.events(flt, limit=min(limit, total - offset), offset=first)
            return page.events[::-1]
        # operation_type is not a filter of llamonitor's queries: keep the newest matching ones
        newest: deque[MetricEvent] = deque(maxlen=offset + limit)

        def keep(event: MetricEvent) -> None:
            if event.operation_type == operation_type:
                newest.append(event)

        await _scan(backend, flt, keep)
        return list(newest)[::-1][offset:]

    async def _session_row(self, info: SessionInfo, start_time: datetime | None,
                           end_time: datetime | None) -> dict[str, Any]:
        rows = await self._backend.aggregates("operation", _window(start_time, end_time, info.session_id))
        out = info.to_dict()
        out.update({"start_time": info.first_event, "end_time": info.last_event, "event_count": info.events,
                    "operation_count": len(rows), "error_count": info.errors,
                    "total_duration_ms": sum((r.latency.mean_ms or 0.0) * r.events for r in rows)})
        return out

    async def get_sessions(self, start_time: datetime | None = None, end_time: datetime | None = None,
                           limit: int = 100) -> list[dict[str, Any]]:
        """Sessions with their summary figures, most recent first; the seed's keys ``start_time`` /
        ``end_time`` (datetimes), ``event_count``, ``operation_count`` (distinct operations),
        ``error_count`` and ``total_duration_ms`` (sum of the events' durations) included."""
        infos = await self._backend.sessions(_window(start_time, end_time), limit=limit)
        return [await self._session_row(info, start_time, end_time) for info in infos]

    async def get_session_details(self, session_id: str) -> dict[str, Any]:
        """``{"session": ..., "traces": [...], "events": [up to 50, newest first]}`` as in the
        seed, or ``{"error": "Session not found"}``."""
        infos = await self._backend.sessions(EventFilter(session_id=session_id), limit=1)
        if not infos:
            return {"error": "Session not found"}
        events = await self.query_events(session_id=session_id, limit=50)
        return {"session": await self._session_row(infos[0], None, None),
                "traces": await self.get_traces(session_id),
                "events": [{"event_id": str(e.event_id), "operation_name": e.operation_name,
                            "operation_type": e.operation_type, "timestamp": e.timestamp.isoformat(),
                            "duration_ms": e.duration_ms, "error": e.error, "error_type": e.error_type}
                           for e in events]}

    async def get_traces(self, session_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Traces of one session, with the seed's ``start_time`` / ``end_time``, ``event_count``,
        ``span_count`` (distinct spans), ``error_count`` and ``total_duration_ms`` (sum of durations)."""
        out: list[dict[str, Any]] = []
        for info in await self._backend.traces(session_id, limit=limit):
            events = await self._backend.trace_events(info.trace_id, session_id=session_id)
            row = info.to_dict()
            row.update({"start_time": info.first_event, "end_time": info.last_event, "event_count": info.events,
                        "span_count": len({e.span_id for e in events}), "error_count": info.errors,
                        "total_duration_ms": sum(e.duration_ms for e in events)})
            out.append(row)
        return out

    async def aggregate_by_operation(self, start_time: datetime | None = None,
                                     end_time: datetime | None = None) -> list[dict[str, Any]]:
        """Per operation (most events first): ``operation_name``, ``count``, ``error_count``,
        ``avg_duration_ms``, ``p50`` / ``p95`` / ``p99_duration_ms``, ``total_characters``,
        ``estimated_cost_usd``, plus llamonitor's tokens and latency."""
        flt = _window(start_time, end_time)
        rows = await self._backend.aggregates("operation", flt)
        chars = await _characters_by(self._backend, flt, lambda e: e.operation_name)
        return [_group_row(r, "operation_name", chars) for r in rows]

    async def aggregate_by_model(self, start_time: datetime | None = None,
                                 end_time: datetime | None = None) -> list[dict[str, Any]]:
        """The same per ``model`` (``"unknown"`` for events without one)."""
        flt = _window(start_time, end_time)
        rows = await self._backend.aggregates("model", flt)
        chars = await _characters_by(self._backend, flt, lambda e: e.model or _NONE)
        return [_group_row(r, "model", chars) for r in rows]

    async def aggregate_costs(self, start_time: datetime | None = None, end_time: datetime | None = None,
                              group_by: str = "model") -> list[dict[str, Any]]:
        """Cost per model / operation / session / day: the group under the ``group_by`` key,
        ``total_cost_usd`` (0.0 when nothing was priced), ``operation_count`` and
        ``avg_cost_per_operation_usd``."""
        if group_by not in ("model", "operation", "session", "day", "agent"):
            raise ValueError(f"Invalid group_by: {group_by}")
        by = cast(Literal["model", "operation", "session", "day", "agent"], group_by)
        out: list[dict[str, Any]] = []
        for r in await self._backend.costs(by, _window(start_time, end_time)):
            row = r.to_dict()
            total = r.total_cost_usd or 0.0
            row.update({group_by: "unknown" if group_by == "model" and r.key == _NONE else r.key,
                        "total_cost_usd": total, "operation_count": r.events,
                        "avg_cost_per_operation_usd": total / r.events if r.events else 0.0})
            out.append(row)
        return out

    async def get_summary_stats(self, start_time: datetime | None = None,
                                end_time: datetime | None = None) -> dict[str, Any]:
        """Totals, latency, tokens and cost, with the seed's ``total_sessions``,
        ``total_operations`` (distinct operations), ``total_errors``, ``avg_duration_ms`` and
        ``total_characters``."""
        flt = _window(start_time, end_time)
        summary = await self._backend.summary(flt)
        chars = await _characters_by(self._backend, flt, lambda e: "")
        out = summary.to_dict()
        out.update({"total_sessions": summary.sessions, "total_operations": len(summary.by_operation),
                    "total_errors": summary.errors,
                    "avg_duration_ms": summary.latency.mean_ms if summary.latency.mean_ms is not None else 0.0,
                    "total_characters": chars.get("", 0)})
        return out

    async def health_check(self) -> dict[str, Any]:
        """Whether the backend answers a query."""
        healthy = False
        if self.query_backend is not None:
            try:
                await self.query_backend.events(limit=1)
                healthy = True
            except Exception:
                healthy = False
        return {"service_healthy": healthy, "backend_type": self.config.storage.backend,
                "backend_healthy": healthy}


async def create_aggregation_service(config: MonitorConfig | None = None) -> AggregationService:
    """An initialised :class:`AggregationService`."""
    service = AggregationService(config)
    await service.initialize()
    return service
