"""The query layer on the server backends: one SQL builder, three dialects.

All values are bound parameters (``$n`` on PostgreSQL, ``%s`` on MySQL, client-side bound
``%(pN)s`` on ClickHouse); identifiers come from the validated storage config. Percentiles are
exact with linear interpolation: ``percentile_cont`` on PostgreSQL, MariaDB's window
``PERCENTILE_CONT`` (on MySQL proper, sorted durations interpolated in Python), and
``quantileExactInclusive`` (the R7 / NumPy ``linear`` definition) on ClickHouse. ClickHouse reads
``FINAL`` so a re-delivered event counts once before the ReplacingMergeTree merges it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Hashable, Sequence
from datetime import date, timedelta
from typing import Any

from llamonitor.backends.sql_common import ServerBackend
from llamonitor.quantiles import quantiles
from llamonitor.query import rollups as roll
from llamonitor.query.summary import QUANTILES, GroupStats, LatencyStats, Summary
from llamonitor.query.types import (
    CostGroupBy,
    CostRow,
    EventFilter,
    EventPage,
    GroupBy,
    SessionInfo,
    TimeBucket,
    TraceInfo,
    bucket_plan,
    check_buckets,
    check_page,
    collect_events,
    decode_cursor,
    encode_cursor,
    sort_costs,
    sort_groups,
)
from llamonitor.schema.columns import COLUMN_NAMES, row_to_event
from llamonitor.schema.events import MetricEvent, ns_to_datetime
from llamonitor.schema.projection import NONE_LABEL

_TIN = "COALESCE(usage_input_tokens, text_input_tokens)"
_TOUT = "COALESCE(usage_output_tokens, text_output_tokens)"
_NS_PER_DAY = 86_400_000_000_000


class Dialect:
    """SQL differences between the servers (PostgreSQL is the base)."""

    name = "postgres"
    #: whether the writer keeps rollup tables this dialect can read (PostgreSQL's trigger rollups)
    rollup_tables = True
    #: MIN / MAX that return NULL over no rows
    min_max = ("MIN", "MAX")
    #: the row count (ClickHouse reads it from part metadata)
    count_all = "COUNT(*)"
    start_col = "start_time_ns"
    start_ns = "start_time_ns"
    end_ns = "end_time_ns"
    err = "CAST(error AS INTEGER)"
    day = f"(start_time_ns / {_NS_PER_DAY})"
    final = ""

    def ph(self, index: int) -> str:
        """Placeholder of the ``index``-th (1-based) parameter."""
        return f"${index}"

    def int_div(self, a: str, b: int) -> str:
        """Integer division of a non-negative expression by a positive integer."""
        return f"(({a}) / {int(b)})"

    def ts(self, placeholder: str) -> str:
        """A nanosecond parameter as comparable to :attr:`start_col`."""
        return placeholder

    def select_list(self) -> str:
        """Every column in :data:`COLUMN_NAMES` order."""
        return ", ".join(COLUMN_NAMES)

    def percentiles(self, column: str) -> list[str] | None:
        """Aggregate expressions for p50 / p95 / p99, or ``None`` when computed separately."""
        return [f"percentile_cont({q}) WITHIN GROUP (ORDER BY {column})" for q in QUANTILES]

    def params(self, values: list[Any]) -> Any:
        """Parameters in the form the driver takes."""
        return values


class MySQLDialect(Dialect):
    """MySQL / MariaDB."""

    name = "mysql"
    rollup_tables = False
    err = "error"
    day = f"(start_time_ns DIV {_NS_PER_DAY})"

    def ph(self, index: int) -> str:
        return "%s"

    def int_div(self, a: str, b: int) -> str:
        return f"(({a}) DIV {int(b)})"

    def percentiles(self, column: str) -> list[str] | None:
        return None


class ClickHouseDialect(Dialect):
    """ClickHouse (server or chDB)."""

    name = "clickhouse"
    rollup_tables = False
    min_max = ("minOrNull", "maxOrNull")  # ClickHouse's MIN() of nothing is 0, not NULL
    count_all = "count()"
    start_col = "start_time"
    start_ns = "toUnixTimestamp64Nano(start_time)"
    end_ns = "toUnixTimestamp64Nano(end_time)"
    err = "toInt64(error)"
    day = f"intDiv(toUnixTimestamp64Nano(start_time), {_NS_PER_DAY})"
    final = " FINAL"

    def ph(self, index: int) -> str:
        return f"%(p{index})s"

    def int_div(self, a: str, b: int) -> str:
        return f"intDiv({a}, {int(b)})"

    def ts(self, placeholder: str) -> str:
        return f"fromUnixTimestamp64Nano(toInt64({placeholder}))"

    def select_list(self) -> str:
        from llamonitor.backends.clickhouse import select_list

        return select_list()

    def percentiles(self, column: str) -> list[str] | None:
        return [f"quantileExactInclusive({q})({column})" for q in QUANTILES]

    def params(self, values: list[Any]) -> Any:
        return {f"p{i}": v for i, v in enumerate(values, 1)}


def linear_quantiles(ordered: Sequence[float], qs: Sequence[float] = QUANTILES) -> list[float | None]:
    """NumPy ``linear`` quantiles of an ascending sequence (``None`` each when it is empty)."""
    return quantiles(ordered, qs)


def _i(value: Any) -> int:
    return int(value) if value is not None else 0


def _f(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return None if math.isnan(out) else out


class _Where:
    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect
        self.values: list[Any] = []
        self.parts: list[str] = []

    def p(self, value: Any) -> str:
        self.values.append(value)
        return self.d.ph(len(self.values))

    def add(self, f: EventFilter | None) -> _Where:
        if f is None:
            return self
        if f.start_ns is not None:
            self.parts.append(f"{self.d.start_col} >= {self.d.ts(self.p(f.start_ns))}")
        if f.end_ns is not None:
            self.parts.append(f"{self.d.start_col} < {self.d.ts(self.p(f.end_ns))}")
        for column, value in (("session_id", f.session_id), ("trace_id", f.trace_id),
                              ("operation_name", f.operation_name), ("model", f.model),
                              ("agent_name", f.agent_name)):
            if value is not None:
                self.parts.append(f"{column} = {self.p(value)}")
        if f.errors_only:
            self.parts.append("error")
        return self

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.parts)) if self.parts else ""


_GROUP_KEYS = {"operation": "operation_name", "model": f"COALESCE(model, '{NONE_LABEL}')",
               "agent": f"COALESCE(agent_name, '{NONE_LABEL}')", "session": "session_id"}


class SqlQueryBackend:
    """:class:`~llamonitor.query.types.QueryBackend` over a PostgreSQL, MySQL or ClickHouse table."""

    def __init__(self, backend: ServerBackend, dialect: Dialect) -> None:
        self.backend = backend
        self.dialect = dialect
        self._ready = False
        self._init_lock: asyncio.Lock | None = None
        self._window_percentiles: bool | None = None
        self._reader: roll.RollupReader | None = None
        names = getattr(backend, "rollup_names", None)
        if dialect.rollup_tables and names is not None and getattr(backend, "rollups", False):
            self._reader = roll.RollupReader(names, str(getattr(backend, "qualified")), self._fetch,  # noqa: B009
                                             roll.exact_limit(backend.config.options))

    async def generation(self) -> Hashable | None:
        """The storage generation (:mod:`llamonitor.query.cache`): PostgreSQL's rollup counter (``None``
        without rollups); MySQL / ClickHouse: the row count and the newest start time."""
        d = self.dialect
        if d.rollup_tables:
            if self._reader is None or not await self._reader.exists():
                return None
            return await self._reader.generation()
        # the raw table (no FINAL on ClickHouse): any insert changes the count (a merge may too: a miss)
        rows = await self._fetch(f"SELECT {d.count_all}, MAX({d.start_col}) FROM {self._qualified}", [])
        return (int(rows[0][0]), str(rows[0][1]))

    async def ping(self) -> None:
        """One round trip to the server (connecting, and creating the table, on first use)."""
        await self._fetch("SELECT 1", [])

    @property
    def _qualified(self) -> str:
        return str(getattr(self.backend, "qualified"))  # noqa: B009 - each server backend has it

    @property
    def table(self) -> str:
        """The table as it appears in FROM (ClickHouse: with ``FINAL``)."""
        return self._qualified + self.dialect.final

    async def _fetch(self, sql: str, values: list[Any]) -> list[tuple[Any, ...]]:
        if not self._ready:
            if self._init_lock is None:
                self._init_lock = asyncio.Lock()
            async with self._init_lock:
                if not self._ready:
                    await self.backend.initialize()
                    self._ready = True
        fetch = getattr(self.backend, "fetch")  # noqa: B009
        rows: list[tuple[Any, ...]] = await fetch(sql, self.dialect.params(values))
        return rows

    async def _rollups(self, f: EventFilter | None, *, keys: bool, percentiles: bool) -> roll.RollupReader | None:
        """The rollup reader when it can answer ``f`` (and, for percentiles, enough events match)."""
        reader = self._reader
        if reader is None or not roll.usable(f, keys=keys) or not await reader.available():
            return None
        if percentiles and await reader.matching_events(f) <= reader.exact_limit:
            return None
        return reader

    # -- events --------------------------------------------------------------------------------
    async def events(self, filter: EventFilter | None = None, *, limit: int = 100, offset: int = 0,
                     cursor: str | None = None) -> EventPage:
        """See :meth:`QueryBackend.events`."""
        check_page(limit, offset)
        d = self.dialect
        w = _Where(d).add(filter)
        if cursor is not None:
            ns, event_id = decode_cursor(cursor)
            w.parts.append(f"({d.start_col}, event_id) > ({d.ts(w.p(ns))}, {w.p(event_id)})")
        sql = (f"SELECT {d.select_list()} FROM {self.table}{w.sql()} ORDER BY {d.start_col}, event_id "
               f"LIMIT {w.p(limit + 1)} OFFSET {w.p(offset)}")
        events = [row_to_event(r) for r in await self._fetch(sql, w.values)]
        more = len(events) > limit
        events = events[:limit]
        last = events[-1] if events else None
        return EventPage(events, encode_cursor(last.start_time_ns, last.event_id) if more and last else None)

    async def trace_events(self, trace_id: str, *, session_id: str | None = None) -> list[MetricEvent]:
        """See :meth:`QueryBackend.trace_events`."""
        return await collect_events(self, EventFilter(trace_id=trace_id, session_id=session_id))

    # -- sessions and traces ----------------------------------------------------------------------
    async def sessions(self, filter: EventFilter | None = None, *, limit: int = 100,
                       offset: int = 0) -> list[SessionInfo]:
        """See :meth:`QueryBackend.sessions`."""
        check_page(limit, offset)
        only_session = filter is not None and filter == EventFilter(session_id=filter.session_id)
        if self._reader is not None and (filter is None or only_session) and await self._reader.available():
            return await self._reader.sessions(limit, offset, filter.session_id if filter is not None else None)
        d = self.dialect
        w = _Where(d).add(filter)
        sql = (f"SELECT session_id, COUNT(*), SUM({d.err}), COUNT(DISTINCT trace_id), MIN({d.start_ns}), "
               f"MAX({d.end_ns}) AS last_ns, SUM({_TIN}), SUM({_TOUT}), SUM(cost_total_cost_usd), "
               f"COUNT(cost_total_cost_usd) FROM {self.table}{w.sql()} GROUP BY session_id "
               f"ORDER BY last_ns DESC, session_id LIMIT {w.p(limit)} OFFSET {w.p(offset)}")
        return [SessionInfo(session_id=r[0], events=_i(r[1]), errors=_i(r[2]), traces=_i(r[3]),
                            first_event=ns_to_datetime(int(r[4])), last_event=ns_to_datetime(int(r[5])),
                            input_tokens=_i(r[6]), output_tokens=_i(r[7]),
                            total_cost_usd=_f(r[8]) if _i(r[9]) else None)
                for r in await self._fetch(sql, w.values)]

    async def traces(self, session_id: str, *, limit: int = 1000, offset: int = 0) -> list[TraceInfo]:
        """See :meth:`QueryBackend.traces` (PostgreSQL: from the trace rollup)."""
        check_page(limit, offset)
        if self._reader is not None and await self._reader.available():
            return await self._reader.traces(session_id, limit, offset)
        d = self.dialect
        w = _Where(d).add(EventFilter(session_id=session_id))
        sql = (f"SELECT trace_id, COUNT(*), SUM({d.err}), MIN({d.start_ns}) AS first_ns, MAX({d.end_ns}), "
               f"SUM(cost_total_cost_usd), COUNT(cost_total_cost_usd) FROM {self.table}{w.sql()} "
               f"GROUP BY trace_id ORDER BY first_ns, trace_id LIMIT {w.p(limit)} OFFSET {w.p(offset)}")
        return [TraceInfo(session_id=session_id, trace_id=r[0], events=_i(r[1]), errors=_i(r[2]),
                          first_event=ns_to_datetime(int(r[3])), last_event=ns_to_datetime(int(r[4])),
                          duration_ms=(int(r[4]) - int(r[3])) / 1e6,
                          total_cost_usd=_f(r[5]) if _i(r[6]) else None)
                for r in await self._fetch(sql, w.values)]

    # -- aggregates ------------------------------------------------------------------------------
    async def _percentiles(self, key: str | None, filter: EventFilter | None) -> dict[Any, list[float | None]]:
        """p50 / p95 / p99 per key (``None`` key: overall) when not computed in the GROUP BY."""
        return await self._percentiles_where(key, _Where(self.dialect).add(filter))

    async def _percentiles_where(self, key: str | None, w: _Where) -> dict[Any, list[float | None]]:
        if self._window_percentiles is None:
            version = await self._fetch("SELECT VERSION()", [])
            self._window_percentiles = "mariadb" in str(version[0][0]).lower()
        k = key if key is not None else "''"
        if self._window_percentiles:
            cols = ", ".join(f"PERCENTILE_CONT({q}) WITHIN GROUP (ORDER BY duration_ms) OVER (PARTITION BY {k})"
                             for q in QUANTILES)
            rows = await self._fetch(f"SELECT DISTINCT {k}, {cols} FROM {self.table}{w.sql()}", w.values)
            return {r[0]: [_f(v) for v in r[1:]] for r in rows}
        rows = await self._fetch(f"SELECT {k}, duration_ms FROM {self.table}{w.sql()} ORDER BY 1, 2", w.values)
        grouped: dict[Any, list[float]] = {}
        for r in rows:
            grouped.setdefault(r[0], []).append(float(r[1]))
        return {g: linear_quantiles(v) for g, v in grouped.items()}

    async def aggregates(self, by: GroupBy, filter: EventFilter | None = None) -> list[GroupStats]:
        """See :meth:`QueryBackend.aggregates`."""
        if by not in ("operation", "model", "agent"):
            raise ValueError(f"by must be one of operation, model, agent; got {by!r}")
        reader = await self._rollups(filter, keys=True, percentiles=True)
        if reader is not None:
            return sort_groups(await reader.aggregates(by, filter))
        d = self.dialect
        key = _GROUP_KEYS[by]
        pct = d.percentiles("duration_ms")
        w = _Where(d).add(filter)
        sql = (f"SELECT {key} AS k, COUNT(*), SUM({d.err}), SUM({_TIN}), SUM({_TOUT}), SUM(cost_total_cost_usd), "
               f"COUNT(cost_total_cost_usd), AVG(duration_ms), MAX(duration_ms)"
               f"{''.join(', ' + p for p in pct or [])} FROM {self.table}{w.sql()} GROUP BY {key}")
        rows = await self._fetch(sql, w.values)
        separate = await self._percentiles(key, filter) if pct is None else {}
        groups = []
        for r in rows:
            qs = [_f(v) for v in r[9:12]] if pct is not None else separate.get(r[0], [None] * 3)
            events, errors, tin, tout = _i(r[1]), _i(r[2]), _i(r[3]), _i(r[4])
            groups.append(GroupStats(
                key=str(r[0]), events=events, errors=errors, error_rate=errors / events if events else 0.0,
                input_tokens=tin, output_tokens=tout, total_tokens=tin + tout,
                cost_usd=_f(r[5]) if _i(r[6]) else None,
                latency=LatencyStats(p50_ms=qs[0], p95_ms=qs[1], p99_ms=qs[2], mean_ms=_f(r[7]), max_ms=_f(r[8]))))
        return sort_groups(groups)

    async def costs(self, by: CostGroupBy, filter: EventFilter | None = None) -> list[CostRow]:
        """See :meth:`QueryBackend.costs`."""
        if by not in ("model", "operation", "session", "day", "agent"):
            raise ValueError(f"by must be one of model, operation, session, day, agent; got {by!r}")
        if by != "session":
            reader = await self._rollups(filter, keys=True, percentiles=False)
            if reader is not None:
                return sort_costs(await reader.costs(by, filter), by)
        d = self.dialect
        key = d.day if by == "day" else _GROUP_KEYS[by]
        w = _Where(d).add(filter)
        sql = (f"SELECT {key} AS k, COUNT(*), COUNT(cost_total_cost_usd), SUM({_TIN}), SUM({_TOUT}), "
               f"SUM(cost_input_cost_usd), COUNT(cost_input_cost_usd), SUM(cost_output_cost_usd), "
               f"COUNT(cost_output_cost_usd), SUM(cost_total_cost_usd) FROM {self.table}{w.sql()} GROUP BY {key}")
        rows = []
        for r in await self._fetch(sql, w.values):
            label = (date(1970, 1, 1) + timedelta(days=int(r[0]))).isoformat() if by == "day" else str(r[0])
            rows.append(CostRow(key=label, events=_i(r[1]), priced_events=_i(r[2]), input_tokens=_i(r[3]),
                                output_tokens=_i(r[4]), input_cost_usd=_f(r[5]) if _i(r[6]) else None,
                                output_cost_usd=_f(r[7]) if _i(r[8]) else None,
                                total_cost_usd=_f(r[9]) if _i(r[2]) else None))
        return sort_costs(rows, by)

    async def _count_distinct(self, columns: str, filter: EventFilter | None) -> int:
        # A hashed GROUP BY in a subquery: far cheaper than COUNT(DISTINCT ...) on PostgreSQL.
        w = _Where(self.dialect).add(filter)
        rows = await self._fetch(f"SELECT COUNT(*) FROM (SELECT {columns} FROM {self.table}{w.sql()} "
                                 f"GROUP BY {columns}) AS g", w.values)
        return _i(rows[0][0])

    async def summary(self, filter: EventFilter | None = None) -> Summary:
        """See :meth:`QueryBackend.summary` (its queries run concurrently on the pool)."""
        reader = await self._rollups(filter, keys=False, percentiles=True)
        if reader is not None:
            return await self._rollup_summary(reader, filter)
        d = self.dialect
        pct = d.percentiles("duration_ms")
        w = _Where(d).add(filter)
        sql = (f"SELECT COUNT(*), SUM({d.err}), SUM({_TIN}), SUM({_TOUT}), SUM(cost_total_cost_usd), "
               f"COUNT(cost_total_cost_usd), MIN({d.start_ns}), MAX({d.end_ns}), AVG(duration_ms), "
               f"MAX(duration_ms){''.join(', ' + p for p in pct or [])} FROM {self.table}{w.sql()}")
        totals, sessions, traces, by_model, by_agent, by_operation = await asyncio.gather(
            self._fetch(sql, w.values), self._count_distinct("session_id", filter),
            self._count_distinct("session_id, trace_id", filter), self.aggregates("model", filter),
            self.aggregates("agent", filter), self.aggregates("operation", filter))
        r = totals[0]
        n = _i(r[0])
        if pct is not None:
            qs = [_f(v) for v in r[10:13]]
        else:
            qs = (await self._percentiles(None, filter)).get("", [None] * 3) if n else [None] * 3
        errors, tin, tout = _i(r[1]), _i(r[2]), _i(r[3])
        latency = (LatencyStats(p50_ms=qs[0], p95_ms=qs[1], p99_ms=qs[2], mean_ms=_f(r[8]), max_ms=_f(r[9]))
                   if n else LatencyStats())
        return Summary(
            path=f"{self.backend.masked_dsn} {self.table}", files=0, total_events=n, errors=errors,
            error_rate=errors / n if n else 0.0, sessions=sessions, traces=traces, latency=latency,
            input_tokens=tin, output_tokens=tout, total_tokens=tin + tout,
            total_cost_usd=(_f(r[4]) or 0.0) if _i(r[5]) else 0.0, priced_events=_i(r[5]),
            first_event=ns_to_datetime(int(r[6])) if n else None, last_event=ns_to_datetime(int(r[7])) if n else None,
            by_model=by_model, by_agent=by_agent, by_operation=by_operation)

    async def timeseries(self, filter: EventFilter | None = None, *, buckets: int = 24) -> list[TimeBucket]:
        """See :meth:`QueryBackend.timeseries` (two or three queries, whatever the number of buckets)."""
        check_buckets(buckets)
        d = self.dialect
        lo = filter.start_ns if filter is not None else None
        hi = filter.end_ns if filter is not None else None
        if lo is None or hi is None:
            w = _Where(d).add(filter)
            # MIN / MAX only (an index lookup each, no count)
            lo_fn, hi_fn = d.min_max
            first, last = (await self._fetch(f"SELECT {lo_fn}({d.start_ns}), {hi_fn}({d.start_ns}) "
                                             f"FROM {self.table}{w.sql()}", w.values))[0]
            if first is None:
                return []
            lo = int(first) if lo is None else lo
            hi = int(last) + 1 if hi is None else hi
        if hi <= lo:
            return []
        step, edges = bucket_plan(lo, hi, buckets)
        # lo and step are integers computed here, inlined (MySQL binds %s in order of appearance)
        b = d.int_div(f"{d.start_ns} - {int(lo)}", step)
        w = _Where(d).add(filter)
        w.parts += [f"{d.start_col} >= {d.ts(w.p(lo))}", f"{d.start_col} < {d.ts(w.p(hi))}"]
        rows = await self._fetch(f"SELECT {b} AS b, COUNT(*), SUM({d.err}), SUM({_TIN}), SUM({_TOUT}), "
                                 f"SUM(cost_total_cost_usd), MIN(duration_ms), MAX(duration_ms) "
                                 f"FROM {self.table}{w.sql()} GROUP BY {b}", w.values)
        totals = {int(r[0]): r for r in rows}
        p95 = await self._bucket_p95(b, w, sum(_i(r[1]) for r in rows), totals)
        out = []
        for i, (start, end) in enumerate(edges):
            r = totals.get(i)
            out.append(TimeBucket(start=ns_to_datetime(start), end=ns_to_datetime(end), events=_i(r[1]) if r else 0,
                                  errors=_i(r[2]) if r else 0, p95_ms=p95.get(i),
                                  total_tokens=_i(r[3]) + _i(r[4]) if r else 0,
                                  cost_usd=(_f(r[5]) or 0.0) if r else 0.0))
        return out

    async def _bucket_p95(self, b: str, w: _Where, total: int, totals: dict[int, Any]) -> dict[int, float | None]:
        """p95 per bucket: exact, or from a latency histogram on PostgreSQL beyond the exact limit."""
        if total == 0:
            return {}
        d = self.dialect
        if self._reader is not None and total > self._reader.exact_limit:
            hists: dict[int, dict[int, int]] = {}
            for r in await self._fetch(f"SELECT {b}, {roll.RAW_BIN}, COUNT(*) FROM {self.table}{w.sql()} "
                                       f"GROUP BY 1, 2", w.values):
                hists.setdefault(int(r[0]), {})[int(r[1])] = int(r[2])
            return {k: roll.histogram_quantiles(h, _f(totals[k][6]), _f(totals[k][7]), (0.95,))[0]
                    for k, h in hists.items()}
        pct = d.percentiles("duration_ms")
        if pct is not None:
            rows = await self._fetch(f"SELECT {b}, {pct[1]} FROM {self.table}{w.sql()} GROUP BY {b}", w.values)
            return {int(r[0]): _f(r[1]) for r in rows}
        # MySQL / MariaDB: the separate percentile path, keyed by the bucket expression
        separate = await self._percentiles_where(b, w)
        return {int(k): v[1] for k, v in separate.items()}

    async def _rollup_summary(self, reader: roll.RollupReader, filter: EventFilter | None) -> Summary:
        timed = filter is not None and (filter.start is not None or filter.end is not None)
        counts = (asyncio.gather(self._count_distinct("session_id", filter),
                                 self._count_distinct("session_id, trace_id", filter)) if timed
                  else reader.trace_counts())
        accs, (sessions, traces) = await asyncio.gather(reader.groups(filter, histograms=True), counts)
        return roll.summary_from(accs, sessions, traces, path=f"{self.backend.masked_dsn} {self.table}", files=0)

    async def close(self) -> None:
        """Close the backend's connections."""
        await self.backend.close()
        self._ready = False
