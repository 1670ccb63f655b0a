"""Seed ``llmops_monitoring.aggregation`` (and ``transport.backends.query_base``).

``AggregationService`` is the seed's query facade; here it wraps the
:class:`~llamonitor.query.QueryBackend` of the configured storage and returns plain dicts
(events stay :class:`~llamonitor.schema.events.MetricEvent` objects). New code should call
``llamonitor.query.create_query_backend`` directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, cast

from llamonitor.query import create_query_backend
from llamonitor.query.types import EventFilter, QueryBackend
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


def _window(start_time: datetime | None, end_time: datetime | None) -> EventFilter:
    return EventFilter(start=start_time, end=end_time)


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
        """Events matching the filter, oldest first (``operation_type`` filters after the page is read)."""
        flt = QueryFilter(session_id, trace_id, operation_name, operation_type, start_time, end_time,
                          error_only, limit, offset)
        page = await self._backend.events(flt.to_event_filter(), limit=limit, offset=offset)
        if operation_type is None:
            return page.events
        return [e for e in page.events if e.operation_type == operation_type]

    async def get_sessions(self, start_time: datetime | None = None, end_time: datetime | None = None,
                           limit: int = 100) -> list[dict[str, Any]]:
        """Sessions with their summary figures, most recent first."""
        return [s.to_dict() for s in await self._backend.sessions(_window(start_time, end_time), limit=limit)]

    async def get_traces(self, session_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Traces of one session."""
        return [t.to_dict() for t in await self._backend.traces(session_id, limit=limit)]

    async def aggregate_by_operation(self, start_time: datetime | None = None,
                                     end_time: datetime | None = None) -> list[dict[str, Any]]:
        """Count, errors, latency percentiles, tokens and cost per operation."""
        rows = await self._backend.aggregates("operation", _window(start_time, end_time))
        return [asdict(r) for r in rows]

    async def aggregate_by_model(self, start_time: datetime | None = None,
                                 end_time: datetime | None = None) -> list[dict[str, Any]]:
        """The same per model."""
        return [asdict(r) for r in await self._backend.aggregates("model", _window(start_time, end_time))]

    async def aggregate_costs(self, start_time: datetime | None = None, end_time: datetime | None = None,
                              group_by: str = "model") -> list[dict[str, Any]]:
        """Cost per model / operation / session / day."""
        by = cast(Literal["model", "operation", "session", "day", "agent"], group_by)
        return [r.to_dict() for r in await self._backend.costs(by, _window(start_time, end_time))]

    async def get_summary_stats(self, start_time: datetime | None = None,
                                end_time: datetime | None = None) -> dict[str, Any]:
        """Totals, latency, tokens and cost."""
        return (await self._backend.summary(_window(start_time, end_time))).to_dict()

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
