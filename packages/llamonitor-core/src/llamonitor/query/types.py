"""The query layer's contract: filters, result types and the :class:`QueryBackend` protocol.

Every backend (Parquet, PostgreSQL, MySQL / MariaDB, ClickHouse) answers the same questions
with the same result types, computed with the same definitions:

- events are ordered by ``(start_time, event_id)`` (ids compare by code point), and pages are
  stable: an offset or a cursor always continues exactly after the last event returned;
- latency percentiles are exact with linear interpolation (NumPy's default ``linear``);
- tokens of an event are the provider-reported ``usage`` counts when present, else the measured
  ``text_metrics`` counts;
- cost sums ``cost.*_cost_usd`` over priced events (``None`` when no event was priced);
- a re-delivered event (same ``event_id``) counts once.

The API and analytics layers build on these types; they are plain frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from llamonitor.query.summary import GroupStats, LatencyStats, Summary
from llamonitor.schema.events import MetricEvent, datetime_to_ns

#: what :meth:`QueryBackend.aggregates` groups by
GroupBy = Literal["operation", "model", "agent"]
#: what :meth:`QueryBackend.costs` groups by (``day`` is the UTC date ``YYYY-MM-DD``)
CostGroupBy = Literal["model", "operation", "session", "day", "agent"]
GROUP_BY_VALUES: tuple[str, ...] = ("operation", "model", "agent")
COST_GROUP_BY_VALUES: tuple[str, ...] = ("model", "operation", "session", "day", "agent")
#: largest page :meth:`QueryBackend.events` returns
MAX_PAGE = 10_000


@dataclass(frozen=True)
class EventFilter:
    """Which events a query looks at; every field is optional and they combine with AND.

    ``start`` is inclusive and ``end`` exclusive, both compared with the event's start time
    (naive datetimes are UTC).
    """

    start: datetime | None = None
    end: datetime | None = None
    session_id: str | None = None
    trace_id: str | None = None
    operation_name: str | None = None
    model: str | None = None
    agent_name: str | None = None
    #: only events with ``error == True``
    errors_only: bool = False

    @property
    def start_ns(self) -> int | None:
        """``start`` as Unix-epoch nanoseconds."""
        return None if self.start is None else datetime_to_ns(self.start)

    @property
    def end_ns(self) -> int | None:
        """``end`` as Unix-epoch nanoseconds."""
        return None if self.end is None else datetime_to_ns(self.end)


@dataclass(frozen=True)
class EventPage:
    """One page of events; pass ``next_cursor`` as ``cursor`` to get the next one."""

    events: list[MetricEvent]
    #: ``None`` when this page is the last one
    next_cursor: str | None


@dataclass(frozen=True)
class SessionInfo:
    """One session: its events' counts, time span, tokens and cost."""

    session_id: str
    events: int
    errors: int
    traces: int
    first_event: datetime
    last_event: datetime
    input_tokens: int
    output_tokens: int
    #: ``None`` when no event of the session was priced
    total_cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return _jsonable(_flat(self))


@dataclass(frozen=True)
class TraceInfo:
    """One trace of a session."""

    session_id: str
    trace_id: str
    events: int
    errors: int
    first_event: datetime
    last_event: datetime
    #: from the first start to the last end, in milliseconds
    duration_ms: float
    total_cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return _jsonable(_flat(self))


@dataclass(frozen=True)
class CostRow:
    """Cost and tokens of one group (a model, operation, session, agent or UTC day)."""

    key: str
    events: int
    priced_events: int
    input_tokens: int
    output_tokens: int
    input_cost_usd: float | None
    output_cost_usd: float | None
    total_cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return _flat(self)


@dataclass(frozen=True)
class TimeBucket:
    """One slice of :meth:`QueryBackend.timeseries`: events whose start falls in ``[start, end)``."""

    start: datetime
    end: datetime
    events: int
    errors: int
    #: ``None`` for an empty bucket
    p95_ms: float | None
    total_tokens: int
    #: sum of ``cost.total_cost_usd`` (0.0 when nothing was priced)
    cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO-8601 strings)."""
        return _jsonable(_flat(self))


#: most buckets :meth:`QueryBackend.timeseries` returns
MAX_BUCKETS = 1000


def bucket_plan(lo: int, hi: int, buckets: int) -> tuple[int, list[tuple[int, int]]]:
    """``(step_ns, [(start_ns, end_ns), ...])``: ``buckets`` equal slices of ``[lo, hi)``, the last ending at ``hi``."""
    step = max(1, -(-(hi - lo) // buckets))
    edges = [(lo + i * step, min(hi, lo + (i + 1) * step)) for i in range(buckets)]
    return step, [(a, b) for a, b in edges if a < hi] or [(lo, hi)]


def check_buckets(buckets: int) -> None:
    """Validate a bucket count."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be between 1 and {MAX_BUCKETS}; got {buckets}")


def _flat(obj: Any) -> dict[str, Any]:
    # asdict() deep-copies every value; these dataclasses hold only scalars and datetimes
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


@runtime_checkable
class QueryBackend(Protocol):
    """Read access to stored events; implemented for every storage backend.

    Build one with :func:`llamonitor.query.create_query_backend` and ``await close()`` it.
    """

    async def events(self, filter: EventFilter | None = None, *, limit: int = 100, offset: int = 0,
                     cursor: str | None = None) -> EventPage:
        """Events matching ``filter`` ordered by ``(start_time, event_id)``.

        Page with ``offset`` or (better for deep pages) with the previous page's ``cursor``;
        ``limit`` is capped at :data:`MAX_PAGE`.
        """
        ...

    async def sessions(self, filter: EventFilter | None = None, *, limit: int = 100,
                       offset: int = 0) -> list[SessionInfo]:
        """Sessions with events matching ``filter``, most recent last event first (ties by id)."""
        ...

    async def traces(self, session_id: str, *, limit: int = 1000, offset: int = 0) -> list[TraceInfo]:
        """Traces of one session, in order of their first event."""
        ...

    async def trace_events(self, trace_id: str, *, session_id: str | None = None) -> list[MetricEvent]:
        """Every event of a trace, ordered by ``(start_time, event_id)``."""
        ...

    async def aggregates(self, by: GroupBy, filter: EventFilter | None = None) -> list[GroupStats]:
        """Count, errors, p50 / p95 / p99 latency, tokens and cost per operation, model or agent.

        Events without a model / agent are grouped under ``"(none)"``; most events first.
        """
        ...

    async def costs(self, by: CostGroupBy, filter: EventFilter | None = None) -> list[CostRow]:
        """Cost per model / operation / session / agent (highest first) or per UTC day (in order)."""
        ...

    async def summary(self, filter: EventFilter | None = None) -> Summary:
        """Totals, latency percentiles, tokens, cost, and the by-model / agent / operation tables."""
        ...

    async def timeseries(self, filter: EventFilter | None = None, *, buckets: int = 24) -> list[TimeBucket]:
        """Events, errors, p95 latency, tokens and cost in ``buckets`` equal slices of time.

        The range is ``[filter.start, filter.end)``; an open end is the first / last matching
        event's start. Events fall in the slice holding their start time; empty slices are
        included. No matching event and no range: ``[]``.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


async def collect_events(backend: QueryBackend, filter: EventFilter | None = None, *,
                         cap: int | None = None) -> list[MetricEvent]:
    """Every event ``filter`` selects (at most ``cap``), in order, read page by page with the cursor."""
    out: list[MetricEvent] = []
    cursor: str | None = None
    while cap is None or len(out) < cap:
        size = MAX_PAGE if cap is None else min(MAX_PAGE, cap - len(out))
        page = await backend.events(filter, limit=size, cursor=cursor)
        out.extend(page.events)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return out


def encode_cursor(start_ns: int, event_id: str) -> str:
    """The cursor after the event ``(start_ns, event_id)``."""
    return f"{start_ns}:{event_id}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Inverse of :func:`encode_cursor`; ``ValueError`` for a malformed cursor."""
    head, sep, event_id = cursor.partition(":")
    if not sep or not head.lstrip("-").isdigit():
        raise ValueError(f"malformed cursor {cursor!r}")
    return int(head), event_id


def check_page(limit: int, offset: int) -> None:
    """Validate paging arguments."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}; got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0; got {offset}")


def sort_groups(groups: list[GroupStats]) -> list[GroupStats]:
    """Most events first, ties by key (the order every backend returns)."""
    return sorted(groups, key=lambda g: (-g.events, g.key))


def sort_costs(rows: list[CostRow], by: str) -> list[CostRow]:
    """Days in order; other groups by cost (highest first, unpriced last), ties by key."""
    if by == "day":
        return sorted(rows, key=lambda r: r.key)
    return sorted(rows, key=lambda r: (r.total_cost_usd is None, -(r.total_cost_usd or 0.0), r.key))


__all__ = ["COST_GROUP_BY_VALUES", "GROUP_BY_VALUES", "MAX_PAGE", "CostGroupBy", "CostRow", "EventFilter",
           "EventPage", "GroupBy", "GroupStats", "LatencyStats", "QueryBackend", "SessionInfo", "Summary",
           "TimeBucket", "TraceInfo", "bucket_plan", "check_buckets", "check_page", "collect_events",
           "decode_cursor", "encode_cursor", "sort_costs", "sort_groups"]
