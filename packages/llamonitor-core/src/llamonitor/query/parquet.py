"""The query layer on a Parquet dataset, with :mod:`pyarrow.dataset`.

Why pyarrow datasets rather than an embedded SQL engine: pyarrow is already a core dependency,
and a dataset scan prunes exactly what we need -- folders by partition (a date range skips the
other days' folders, a session filter skips the other sessions' folders when partitioned by
session), row groups by min/max statistics, and columns by projection (captured prompt /
response content is only read for the events of a page). Nothing is kept in memory between
requests, so the dataset can grow while it is queried.

The Parquet writer appends files, so a batch the writer re-delivered can exist twice; every
query de-duplicates on ``event_id`` (a cheap distinct count first; the copy is dropped only when
there is one).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from llamonitor.backends.arrow import EVENT_SCHEMA, table_to_events
from llamonitor.query.summary import _prepare, _projection, group_stats, summarize_table
from llamonitor.query.types import (
    MAX_PAGE,
    CostGroupBy,
    CostRow,
    EventFilter,
    EventPage,
    GroupBy,
    GroupStats,
    SessionInfo,
    Summary,
    TraceInfo,
    check_page,
    decode_cursor,
    encode_cursor,
    sort_costs,
    sort_groups,
)
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent, ns_to_datetime
from llamonitor.transport.spill import safe_name

_TS = pa.timestamp("ns", tz="UTC")
_NS_PER_DAY = 86_400_000_000_000
_PART = "_partition"
_SCHEMA = EVENT_SCHEMA.append(pa.field(_PART, pa.string()))
_PARTITIONING = ds.partitioning(pa.schema([(_PART, pa.string())]))


def _ts(ns: int) -> pa.Scalar:
    return pa.scalar(ns, type=pa.int64()).cast(_TS)


def _day(ns: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=ns // _NS_PER_DAY)).isoformat()


def dedupe(table: pa.Table) -> pa.Table:
    """``table`` with one row per ``event_id`` (the first), unchanged when ids are unique."""
    if table.num_rows == 0 or pc.count_distinct(table["event_id"]).as_py() == table.num_rows:
        return table
    indexed = table.append_column("_row", pa.array(range(table.num_rows), type=pa.int64()))
    first = indexed.group_by("event_id", use_threads=False).aggregate([("_row", "min")])
    rows = first["_row_min"]
    return table.take(rows.take(pc.sort_indices(rows)))


class ParquetQueryBackend:
    """:class:`~llamonitor.query.types.QueryBackend` over ``StorageConfig.output_dir``."""

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self.root = Path(config.output_dir)

    # -- scanning --------------------------------------------------------------------------------
    def _dataset(self) -> ds.Dataset | None:
        if not self.root.is_dir():
            return None
        dataset = ds.dataset(str(self.root), format="parquet", schema=_SCHEMA, partitioning=_PARTITIONING)
        return dataset if dataset.files else None

    def _expr(self, f: EventFilter | None) -> ds.Expression | None:
        parts: list[ds.Expression] = []
        if f is not None:
            by_date = self.config.partition_by == "date"
            if f.start_ns is not None:
                parts.append(ds.field("start_time") >= _ts(f.start_ns))
                if by_date:
                    parts.append(ds.field(_PART) >= _day(f.start_ns))
            if f.end_ns is not None:
                parts.append(ds.field("start_time") < _ts(f.end_ns))
                if by_date:
                    parts.append(ds.field(_PART) <= _day(f.end_ns - 1))
            if f.session_id is not None:
                parts.append(ds.field("session_id") == f.session_id)
                if not by_date:
                    parts.append(ds.field(_PART) == safe_name(f.session_id or "default"))
            for column, value in (("trace_id", f.trace_id), ("operation_name", f.operation_name),
                                  ("model", f.model)):
                if value is not None:
                    parts.append(ds.field(column) == value)
            if f.agent_name is not None:
                parts.append(ds.field("agent", "agent_name") == f.agent_name)
            if f.errors_only:
                parts.append(ds.field("error") == True)  # noqa: E712 - an Arrow expression
        if not parts:
            return None
        expr = parts[0]
        for part in parts[1:]:
            expr = expr & part
        return expr

    def _scan(self, columns: Any, f: EventFilter | None, extra: ds.Expression | None = None) -> pa.Table | None:
        dataset = self._dataset()
        if dataset is None:
            return None
        expr = self._expr(f)
        if extra is not None:
            expr = extra if expr is None else expr & extra
        return dedupe(dataset.to_table(columns=columns, filter=expr))

    def _base(self, f: EventFilter | None, *, extra: dict[str, Any] | None = None) -> pa.Table | None:
        columns = _projection() | {"event_id": ds.field("event_id"),
                                   "start_ns": ds.field("start_time").cast(pa.int64()),
                                   "end_ns": ds.field("end_time").cast(pa.int64())} | (extra or {})
        return self._scan(columns, f)

    # -- events --------------------------------------------------------------------------------
    def _events(self, f: EventFilter | None, limit: int, offset: int, cursor: str | None) -> EventPage:
        check_page(limit, offset)
        extra = None
        if cursor is not None:
            ns, event_id = decode_cursor(cursor)
            start = ds.field("start_time")
            extra = (start > _ts(ns)) | ((start == _ts(ns)) & (ds.field("event_id") > event_id))
        keys = self._scan({"start_ns": ds.field("start_time").cast(pa.int64()), "event_id": ds.field("event_id")},
                          f, extra)
        if keys is None or keys.num_rows == 0:
            return EventPage([], None)
        keys = keys.sort_by([("start_ns", "ascending"), ("event_id", "ascending")]).slice(offset, limit + 1)
        more = keys.num_rows > limit
        keys = keys.slice(0, limit)
        if keys.num_rows == 0:
            return EventPage([], None)
        ids = keys["event_id"].combine_chunks()
        lo, hi = pc.min(keys["start_ns"]).as_py(), pc.max(keys["start_ns"]).as_py()
        window = (ds.field("event_id").isin(ids) & (ds.field("start_time") >= _ts(lo))
                  & (ds.field("start_time") <= _ts(hi)))
        full = self._scan(None, f, window)
        events = table_to_events(full) if full is not None else []
        events.sort(key=lambda e: (e.start_time_ns, e.event_id))
        last = events[-1] if events else None
        return EventPage(events, encode_cursor(last.start_time_ns, last.event_id) if more and last else None)

    async def events(self, filter: EventFilter | None = None, *, limit: int = 100, offset: int = 0,
                     cursor: str | None = None) -> EventPage:
        """See :meth:`QueryBackend.events`."""
        return await asyncio.to_thread(self._events, filter, limit, offset, cursor)

    async def trace_events(self, trace_id: str, *, session_id: str | None = None) -> list[MetricEvent]:
        """See :meth:`QueryBackend.trace_events`."""
        out: list[MetricEvent] = []
        cursor: str | None = None
        while True:
            page = await self.events(EventFilter(trace_id=trace_id, session_id=session_id), limit=MAX_PAGE,
                                     cursor=cursor)
            out.extend(page.events)
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor

    # -- sessions and traces ----------------------------------------------------------------------
    def _grouped(self, table: pa.Table, key: str) -> list[dict[str, Any]]:
        t = pa.table({
            "k": table[key], "error": pc.cast(pc.fill_null(table["error"], False), pa.int64()),
            "trace_id": table["trace_id"], "start_ns": table["start_ns"], "end_ns": table["end_ns"],
            "tin": pc.coalesce(table["usage_in"], table["text_in"]),
            "tout": pc.coalesce(table["usage_out"], table["text_out"]), "cost": table["cost"],
        })
        rows: list[dict[str, Any]] = t.group_by("k").aggregate([
            ("error", "count"), ("error", "sum"), ("trace_id", "count_distinct"), ("start_ns", "min"),
            ("end_ns", "max"), ("tin", "sum"), ("tout", "sum"), ("cost", "sum"), ("cost", "count"),
        ]).to_pylist()
        return rows

    def _sessions(self, f: EventFilter | None, limit: int, offset: int) -> list[SessionInfo]:
        check_page(limit, offset)
        table = self._base(f)
        if table is None or table.num_rows == 0:
            return []
        rows = sorted(self._grouped(table, "session_id"), key=lambda r: (-r["end_ns_max"], r["k"]))
        return [SessionInfo(session_id=r["k"], events=r["error_count"], errors=int(r["error_sum"] or 0),
                            traces=r["trace_id_count_distinct"], first_event=ns_to_datetime(r["start_ns_min"]),
                            last_event=ns_to_datetime(r["end_ns_max"]), input_tokens=int(r["tin_sum"] or 0),
                            output_tokens=int(r["tout_sum"] or 0),
                            total_cost_usd=r["cost_sum"] if r["cost_count"] else None)
                for r in rows[offset:offset + limit]]

    async def sessions(self, filter: EventFilter | None = None, *, limit: int = 100,
                       offset: int = 0) -> list[SessionInfo]:
        """See :meth:`QueryBackend.sessions`."""
        return await asyncio.to_thread(self._sessions, filter, limit, offset)

    def _traces(self, session_id: str, limit: int, offset: int) -> list[TraceInfo]:
        check_page(limit, offset)
        table = self._base(EventFilter(session_id=session_id))
        if table is None or table.num_rows == 0:
            return []
        rows = sorted(self._grouped(table, "trace_id"), key=lambda r: (r["start_ns_min"], r["k"]))
        return [TraceInfo(session_id=session_id, trace_id=r["k"], events=r["error_count"],
                          errors=int(r["error_sum"] or 0), first_event=ns_to_datetime(r["start_ns_min"]),
                          last_event=ns_to_datetime(r["end_ns_max"]),
                          duration_ms=(r["end_ns_max"] - r["start_ns_min"]) / 1e6,
                          total_cost_usd=r["cost_sum"] if r["cost_count"] else None)
                for r in rows[offset:offset + limit]]

    async def traces(self, session_id: str, *, limit: int = 1000, offset: int = 0) -> list[TraceInfo]:
        """See :meth:`QueryBackend.traces`."""
        return await asyncio.to_thread(self._traces, session_id, limit, offset)

    # -- aggregates ------------------------------------------------------------------------------
    def _aggregates(self, by: GroupBy, f: EventFilter | None) -> list[GroupStats]:
        if by not in ("operation", "model", "agent"):
            raise ValueError(f"by must be one of operation, model, agent; got {by!r}")
        table = self._base(f)
        if table is None:
            return []
        return sort_groups(group_stats(_prepare(table), by))

    async def aggregates(self, by: GroupBy, filter: EventFilter | None = None) -> list[GroupStats]:
        """See :meth:`QueryBackend.aggregates`."""
        return await asyncio.to_thread(self._aggregates, by, filter)

    def _costs(self, by: CostGroupBy, f: EventFilter | None) -> list[CostRow]:
        if by not in ("model", "operation", "session", "day", "agent"):
            raise ValueError(f"by must be one of model, operation, session, day, agent; got {by!r}")
        table = self._base(f, extra={"cost_in": ds.field("cost", "input_cost_usd"),
                                     "cost_out": ds.field("cost", "output_cost_usd")})
        if table is None or table.num_rows == 0:
            return []
        prepared = _prepare(table)
        keys = {"model": prepared["model"], "agent": prepared["agent"], "operation": table["operation_name"],
                "session": table["session_id"], "day": pc.divide(table["start_ns"], _NS_PER_DAY)}
        t = pa.table({"k": keys[by], "n": table["error"], "tin": prepared["tokens_in"],
                      "tout": prepared["tokens_out"], "cin": table["cost_in"], "cout": table["cost_out"],
                      "cost": table["cost"]})
        out = []
        for r in t.group_by("k").aggregate([
                ("n", "count"), ("cost", "count"), ("tin", "sum"), ("tout", "sum"), ("cin", "sum"),
                ("cin", "count"), ("cout", "sum"), ("cout", "count"), ("cost", "sum")]).to_pylist():
            key = (date(1970, 1, 1) + timedelta(days=r["k"])).isoformat() if by == "day" else str(r["k"])
            out.append(CostRow(key=key, events=r["n_count"], priced_events=r["cost_count"],
                               input_tokens=int(r["tin_sum"] or 0), output_tokens=int(r["tout_sum"] or 0),
                               input_cost_usd=r["cin_sum"] if r["cin_count"] else None,
                               output_cost_usd=r["cout_sum"] if r["cout_count"] else None,
                               total_cost_usd=r["cost_sum"] if r["cost_count"] else None))
        return sort_costs(out, by)

    async def costs(self, by: CostGroupBy, filter: EventFilter | None = None) -> list[CostRow]:
        """See :meth:`QueryBackend.costs`."""
        return await asyncio.to_thread(self._costs, by, filter)

    def _summary(self, f: EventFilter | None) -> Summary:
        dataset = self._dataset()
        table = self._base(f)
        if table is None:
            table = pa.table({name: pa.array([], type=typ) for name, typ in
                              zip(_EMPTY.names, _EMPTY.types, strict=True)})
        files = len(dataset.files) if dataset is not None else 0
        return summarize_table(table, path=str(self.root), files=files)

    async def summary(self, filter: EventFilter | None = None) -> Summary:
        """See :meth:`QueryBackend.summary`."""
        return await asyncio.to_thread(self._summary, filter)

    async def close(self) -> None:
        """Nothing to release (no state between requests)."""
        await asyncio.sleep(0)


_EMPTY = pa.schema([("session_id", pa.string()), ("trace_id", pa.string()), ("duration_ms", pa.float64()),
                    ("error", pa.bool_()), ("start_time", pa.timestamp("us", tz="UTC")),
                    ("end_time", pa.timestamp("us", tz="UTC")), ("operation_name", pa.string()),
                    ("model", pa.string()), ("agent_name", pa.string()), ("usage_in", pa.int64()),
                    ("usage_out", pa.int64()), ("text_in", pa.int64()), ("text_out", pa.int64()),
                    ("cost", pa.float64())])
