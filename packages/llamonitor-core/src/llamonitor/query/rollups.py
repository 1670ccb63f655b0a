"""Summaries from the PostgreSQL rollups (:mod:`llamonitor.backends.pg_rollups`).

Which questions the rollups answer: ``summary`` without filters or with only a time range,
``aggregates`` and ``costs`` (by model, operation, agent or day) with a time range and / or an
operation, model or agent. Whole UTC days inside the range come from the rollup tables; the
partial days at its edges are aggregated from the events themselves, in the same shape, so the
answer covers exactly the range asked for.

What is exact: every count and sum (events, errors, tokens, costs), min / max / mean latency,
first / last event, sessions and traces. Percentiles come from the latency histogram: within
2 % of the exact value (a bin spans a ratio of :data:`~llamonitor.backends.pg_rollups.GAMMA`;
the estimate interpolates inside it and is clamped to the group's exact min and max). The
query layer uses the rollups for percentiles only when more than ``exact_percentile_limit``
events (``StorageConfig.options``, 100,000 by default) match; below that, it sorts the events
and percentiles are exact. Stale rollups (events were updated or deleted) are never used.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from llamonitor.backends.pg_rollups import GAMMA, NS_PER_DAY, SPECIAL_BIN, RollupNames
from llamonitor.query.summary import QUANTILES, GroupStats, LatencyStats, Summary
from llamonitor.query.types import CostRow, EventFilter, SessionInfo, TraceInfo, sort_groups
from llamonitor.schema.events import ns_to_datetime
from llamonitor.schema.projection import NONE_LABEL

#: default of ``StorageConfig.options["exact_percentile_limit"]``
EXACT_PERCENTILE_LIMIT = 100_000
Fetch = Callable[[str, list[Any]], Awaitable[list[tuple[Any, ...]]]]

# GROUPING(operation_name, model, agent_name) of each grouping set
_SETS = {7: "all", 3: "operation", 5: "model", 6: "agent"}
_SET_SQL = "GROUPING SETS ((), ({op}), ({model}), ({agent}))"


def exact_limit(options: dict[str, Any]) -> int:
    """``options["exact_percentile_limit"]`` (validated), or the default."""
    limit = options.get("exact_percentile_limit", EXACT_PERCENTILE_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"storage.options['exact_percentile_limit'] must be an integer >= 0; got {limit!r}")
    return limit


def bin_of(duration_ms: float) -> int:
    """The histogram bin of a duration (mirrors the SQL in the rollup trigger)."""
    if not (duration_ms > 0 and math.isfinite(duration_ms)):
        return SPECIAL_BIN
    return math.floor(math.log(duration_ms) / math.log(GAMMA))


def histogram_quantiles(hist: dict[int, int], low: float | None, high: float | None,
                        qs: tuple[float, ...] = QUANTILES) -> list[float | None]:
    """Linear-interpolation quantiles estimated from ``bin -> count`` (clamped to ``[low, high]``)."""
    items = sorted((b, n) for b, n in hist.items() if n > 0)
    total = sum(n for _, n in items)
    if total == 0:
        return [None] * len(qs)
    lo_clamp = -math.inf if low is None else low
    hi_clamp = math.inf if high is None else high

    def value_at(rank: int) -> float:
        seen = 0
        for b, n in items:
            if rank < seen + n:
                if b == SPECIAL_BIN:
                    value = min(0.0, hi_clamp) if lo_clamp <= 0 else lo_clamp
                else:
                    value = GAMMA ** (b + (rank - seen + 0.5) / n)
                return min(max(value, lo_clamp), hi_clamp)
            seen += n
        return hi_clamp  # pragma: no cover - rank < total always

    out: list[float | None] = []
    for q in qs:
        pos = q * (total - 1)
        lower = math.floor(pos)
        upper = min(lower + 1, total - 1)
        a = value_at(lower)
        out.append(a + (value_at(upper) - a) * (pos - lower) if upper != lower else a)
    return out


@dataclass
class _Acc:
    """Sums of one group (rollup rows and edge rows add up)."""

    events: int = 0
    errors: int = 0
    tin: int = 0
    tout: int = 0
    cin: float = 0.0
    cin_n: int = 0
    cout: float = 0.0
    cout_n: int = 0
    cost: float = 0.0
    cost_n: int = 0
    dsum: float = 0.0
    dmin: float | None = None
    dmax: float | None = None
    first: int | None = None
    last: int | None = None
    hist: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, r: tuple[Any, ...]) -> None:
        (events, errors, tin, tout, cin, cin_n, cout, cout_n, cost, cost_n, dsum, dmin, dmax, first, last) = r
        if not events:
            return  # the empty grouping set of no rows: all NULL
        self.__dict__.pop("_memo", None)
        self.events += int(events)
        self.errors += int(errors)
        self.tin += int(tin)
        self.tout += int(tout)
        self.cin += float(cin)
        self.cin_n += int(cin_n)
        self.cout += float(cout)
        self.cout_n += int(cout_n)
        self.cost += float(cost)
        self.cost_n += int(cost_n)
        self.dsum += float(dsum or 0.0)
        if dmin is not None:
            self.dmin = float(dmin) if self.dmin is None else min(self.dmin, float(dmin))
        if dmax is not None:
            self.dmax = float(dmax) if self.dmax is None else max(self.dmax, float(dmax))
        if first is not None:
            self.first = int(first) if self.first is None else min(self.first, int(first))
        if last is not None:
            self.last = int(last) if self.last is None else max(self.last, int(last))

    def merge(self, other: _Acc) -> None:
        """Add ``other``'s sums, extremes and histogram to this group's."""
        self.add((other.events, other.errors, other.tin, other.tout, other.cin, other.cin_n, other.cout, other.cout_n,
                  other.cost, other.cost_n, other.dsum, other.dmin, other.dmax, other.first, other.last))
        for b, n in other.hist.items():
            self.hist[b] = self.hist.get(b, 0) + n
        self.__dict__.pop("_memo", None)

    def copy(self) -> _Acc:
        """An independent copy (the histogram too)."""
        out = _Acc(**{k: v for k, v in self.__dict__.items() if k not in ("hist", "_memo")})
        out.hist.update(self.hist)
        return out

    def stats(self, key: str) -> GroupStats:
        """The group's statistics (kept: the merged groups of the query layer are read, not changed)."""
        memo = self.__dict__.get("_memo")
        if memo is not None and memo[0] == key:
            found: GroupStats = memo[1]
            return found
        found = self._stats(key)
        self.__dict__["_memo"] = (key, found)  # add() and merge() drop it
        return found

    def _stats(self, key: str) -> GroupStats:
        p50, p95, p99 = histogram_quantiles(self.hist, self.dmin, self.dmax)
        latency = (LatencyStats(p50_ms=p50, p95_ms=p95, p99_ms=p99, mean_ms=self.dsum / self.events,
                                max_ms=self.dmax) if self.events else LatencyStats())
        return GroupStats(key=key, events=self.events, errors=self.errors,
                          error_rate=self.errors / self.events if self.events else 0.0, input_tokens=self.tin,
                          output_tokens=self.tout, total_tokens=self.tin + self.tout,
                          cost_usd=self.cost if self.cost_n else None, latency=latency)

    def cost_row(self, key: str) -> CostRow:
        return CostRow(key=key, events=self.events, priced_events=self.cost_n, input_tokens=self.tin,
                       output_tokens=self.tout, input_cost_usd=self.cin if self.cin_n else None,
                       output_cost_usd=self.cout if self.cout_n else None,
                       total_cost_usd=self.cost if self.cost_n else None)


Groups = dict[tuple[str, str], "_Acc"]


def summary_from(accs: Groups, sessions: int, traces: int, *, path: str, files: int) -> Summary:
    """A :class:`Summary` from accumulated groups (``("all", "")`` and the three group-bys)."""
    total = accs.get(("all", ""))
    by = {kind: sort_groups([acc.stats(key) for (k, key), acc in accs.items() if k == kind and acc.events])
          for kind in ("model", "agent", "operation")}
    n = total.events if total is not None else 0
    stats = total.stats("") if total is not None and n else None
    return Summary(
        path=path, files=files, total_events=n,
        errors=stats.errors if stats else 0, error_rate=stats.error_rate if stats else 0.0,
        sessions=sessions if n else 0, traces=traces if n else 0,
        latency=stats.latency if stats else LatencyStats(),
        input_tokens=stats.input_tokens if stats else 0, output_tokens=stats.output_tokens if stats else 0,
        total_tokens=stats.total_tokens if stats else 0,
        total_cost_usd=(stats.cost_usd or 0.0) if stats else 0.0,
        priced_events=total.cost_n if total is not None else 0,
        first_event=ns_to_datetime(total.first) if total is not None and total.first is not None and n else None,
        last_event=ns_to_datetime(total.last) if total is not None and total.last is not None and n else None,
        by_model=by["model"], by_agent=by["agent"], by_operation=by["operation"])


_SUMS = ("SUM(events), SUM(errors), SUM(input_tokens), SUM(output_tokens), SUM(cost_input), SUM(cost_input_n), "
         "SUM(cost_output), SUM(cost_output_n), SUM(cost_total), SUM(cost_total_n), SUM(duration_sum), "
         "MIN(duration_min), MAX(duration_max), MIN(first_ns), MAX(last_ns)")
_RAW_SUMS = ("COUNT(*), COUNT(*) FILTER (WHERE error), "
             "COALESCE(SUM(COALESCE(usage_input_tokens, text_input_tokens)), 0), "
             "COALESCE(SUM(COALESCE(usage_output_tokens, text_output_tokens)), 0), "
             "COALESCE(SUM(cost_input_cost_usd), 0), COUNT(cost_input_cost_usd), "
             "COALESCE(SUM(cost_output_cost_usd), 0), COUNT(cost_output_cost_usd), "
             "COALESCE(SUM(cost_total_cost_usd), 0), COUNT(cost_total_cost_usd), SUM(duration_ms), MIN(duration_ms), "
             "MAX(duration_ms), MIN(start_time_ns), MAX(end_time_ns)")
_RAW_KEYS = {"op": "operation_name", "model": f"COALESCE(model, '{NONE_LABEL}')",
             "agent": f"COALESCE(agent_name, '{NONE_LABEL}')"}
_ROLL_KEYS = {"op": "operation_name", "model": "model", "agent": "agent_name"}
RAW_BIN = ("CASE WHEN duration_ms > 0 AND duration_ms < 'Infinity'::float8 "
            f"THEN floor(ln(duration_ms) / ln({GAMMA}))::integer ELSE {SPECIAL_BIN} END")
_RAW_DAY = ("(start_time_ns / 86400000000000 - CASE WHEN start_time_ns < 0 AND start_time_ns % 86400000000000 <> 0 "
            "THEN 1 ELSE 0 END)")


def usable(f: EventFilter | None, *, keys: bool) -> bool:
    """Whether the rollups can answer a query with filter ``f`` (``keys``: op/model/agent filters allowed)."""
    if f is None:
        return True
    if f.session_id is not None or f.trace_id is not None or f.errors_only:
        return False
    if not keys and (f.operation_name is not None or f.model is not None or f.agent_name is not None):
        return False
    # "(none)" is the rollups' label for a missing model / agent, not a value to filter on.
    return f.model != NONE_LABEL and f.agent_name != NONE_LABEL


@dataclass(frozen=True)
class _Plan:
    """Whole days ``[first_day, end_day)`` from the rollups, the rest of the range from events."""

    first_day: int | None
    end_day: int | None
    edges: tuple[tuple[int | None, int | None], ...]


def plan(f: EventFilter | None) -> _Plan:
    """Split ``f``'s time range into whole days (rollups) and the partial days at its edges (events)."""
    start = f.start_ns if f is not None else None
    end = f.end_ns if f is not None else None
    first_day = None if start is None else -(-start // NS_PER_DAY)
    end_day = None if end is None else end // NS_PER_DAY
    if first_day is not None and end_day is not None and end_day <= first_day:
        return _Plan(0, 0, ((start, end),))  # shorter than a whole day: all from events
    edges: list[tuple[int | None, int | None]] = []
    if start is not None and first_day is not None and start < first_day * NS_PER_DAY:
        edges.append((start, first_day * NS_PER_DAY if end is None else min(end, first_day * NS_PER_DAY)))
    if end is not None and end_day is not None and end_day * NS_PER_DAY < end:
        edges.append((max(end_day * NS_PER_DAY, start) if start is not None else end_day * NS_PER_DAY, end))
    return _Plan(first_day, end_day, tuple(edges))


class RollupReader:
    """Answers summary-type questions from one table's rollups (see the module docstring)."""

    def __init__(self, names: RollupNames, events_table: str, fetch: Fetch, exact_limit: int) -> None:
        self.names = names
        self.events_table = events_table
        self.fetch = fetch
        self.exact_limit = exact_limit
        self._exists = False
        #: the day rows read so far (key -> one-row rollup), the highest generation among them,
        #: and the groups merged from them for the last generation asked
        self._rows: dict[tuple[Any, ...], Any] = {}
        self._seen = -1
        self._groups: tuple[int, Groups] | None = None

    async def exists(self) -> bool:
        """The rollup tables exist (remembered once they do: they are never dropped while in use)."""
        if not self._exists:
            rows = await self.fetch(f"SELECT to_regclass('{self.names.state}') IS NOT NULL", [])
            self._exists = bool(rows and rows[0][0])
        return self._exists

    async def available(self) -> bool:
        """The rollups exist and are current."""
        if not await self.exists():
            return False
        try:
            state = await self.fetch(f"SELECT stale FROM {self.names.state} WHERE id = 1", [])
        except Exception:
            self._exists = False  # dropped after all: look again next time
            raise
        return bool(state) and not state[0][0]

    def _where(self, f: EventFilter | None, p: _Plan, values: list[Any]) -> str:
        parts: list[str] = []

        def ph(value: Any) -> str:
            values.append(value)
            return f"${len(values)}"

        if p.first_day is not None:
            parts.append(f"day >= {ph(p.first_day)}")
        if p.end_day is not None:
            parts.append(f"day < {ph(p.end_day)}")
        parts += self._key_filters(f, _ROLL_KEYS, ph)
        return (" WHERE " + " AND ".join(parts)) if parts else ""

    @staticmethod
    def _key_filters(f: EventFilter | None, cols: dict[str, str], ph: Callable[[Any], str]) -> list[str]:
        if f is None:
            return []
        out = []
        for name, value in (("op", f.operation_name), ("model", f.model), ("agent", f.agent_name)):
            if value is not None:
                out.append(f"{cols[name]} = {ph(value)}")
        return out

    def _raw_where(self, f: EventFilter | None, lo: int | None, hi: int | None, values: list[Any]) -> str:
        def ph(value: Any) -> str:
            values.append(value)
            return f"${len(values)}"

        parts = []
        if lo is not None:
            parts.append(f"start_time_ns >= {ph(lo)}")
        if hi is not None:
            parts.append(f"start_time_ns < {ph(hi)}")
        parts += self._key_filters(f, {"op": "operation_name", "model": "model", "agent": "agent_name"}, ph)
        return (" WHERE " + " AND ".join(parts)) if parts else ""

    async def matching_events(self, f: EventFilter | None) -> int:
        """How many events the whole-day part of ``f`` covers (from the rollups)."""
        p = plan(f)
        values: list[Any] = []
        rows = await self.fetch(f"SELECT COALESCE(SUM(events), 0) FROM {self.names.day}{self._where(f, p, values)}",
                                values)
        return int(rows[0][0])

    async def all_groups(self) -> Groups | None:
        """Every day row added up per grouping and per day (no filter); ``None`` without NumPy or
        when a row cannot be merged in memory (the SQL path answers).

        The day rows are kept between calls with the generation that last changed each: a call
        fetches only the rows changed since the last one (a new batch changes a few), then merges
        them all with NumPy -- not a histogram merge in SQL over every row on every change.
        Transactions take their generation under the state row's lock and commit in that order,
        so a row query that sees generation ``g`` sees every lower one too.
        """
        from llamonitor.query.parquet_rollups import Rollup, total_groups
        from llamonitor.query.summary import _has_numpy

        if not _has_numpy():
            return None
        gen = await self.generation()
        if self._groups is not None and self._groups[0] == gen:
            return self._groups[1]
        count = int((await self.fetch(f"SELECT COUNT(*) FROM {self.names.day}", []))[0][0])
        if not await self._load_rows(self._seen):
            return None
        if len(self._rows) != count:  # rows removed (a rebuild): load them all again
            self._rows, self._seen = {}, -1
            if not await self._load_rows(-1):
                return None
        accs = total_groups(Rollup.concat(list(self._rows.values())))
        self._groups = (gen, accs)
        return accs

    async def _load_rows(self, since: int) -> bool:
        from llamonitor.query.parquet_rollups import Rollup

        rows = await self.fetch(f"SELECT day, operation_name, model, agent_name, events, errors, input_tokens, "
                                f"output_tokens, cost_input, cost_input_n, cost_output, cost_output_n, cost_total, "
                                f"cost_total_n, duration_sum, duration_min, duration_max, first_ns, last_ns, latency, "
                                f"gen FROM {self.names.day} WHERE gen > $1", [since])
        for r in rows:
            if r[14] is None or r[15] is None or r[16] is None:
                return False  # no duration to merge: the SQL path copes
            latency = json.loads(r[19]) if isinstance(r[19], (str, bytes)) else r[19]
            bins = sorted((int(b), int(n)) for b, n in latency.items())
            row = [int(r[0]), r[1], r[2], r[3], *r[4:19], [[b for b, _ in bins], [n for _, n in bins]]]
            self._rows[(int(r[0]), r[1], r[2], r[3])] = Rollup.of([row])
            self._seen = max(self._seen, int(r[20]))
        return True

    async def traces(self, session_id: str, limit: int, offset: int) -> list[TraceInfo]:
        """Traces of one session in order of their first event: a range of the trace rollup."""
        rows = await self.fetch(f"SELECT trace_id, events, errors, first_ns, last_ns, cost_total, cost_total_n "
                                f"FROM {self.names.trace} WHERE session_id = $1 ORDER BY first_ns, trace_id "
                                f"LIMIT $2 OFFSET $3", [session_id, limit, offset])
        return [TraceInfo(session_id=session_id, trace_id=r[0], events=int(r[1]), errors=int(r[2]),
                          first_event=ns_to_datetime(int(r[3])), last_event=ns_to_datetime(int(r[4])),
                          duration_ms=(int(r[4]) - int(r[3])) / 1e6, total_cost_usd=float(r[5]) if r[6] else None)
                for r in rows]

    async def groups(self, f: EventFilter | None, *, histograms: bool) -> dict[tuple[str, str], _Acc]:
        """Accumulated sums (and histograms) per ``(grouping, key)``: ``("all", "")``, ``("operation", x)``..."""
        if f is None or f == EventFilter():
            found = await self.all_groups()
            if found is not None:
                return found
        p = plan(f)
        accs: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
        rk, ek = _ROLL_KEYS, _RAW_KEYS
        roll_sets = _SET_SQL.format(op=rk["op"], model=rk["model"], agent=rk["agent"])
        raw_sets = _SET_SQL.format(op=ek["op"], model=ek["model"], agent=ek["agent"])

        def key_of(grouping: int, op: Any, model: Any, agent: Any) -> tuple[str, str]:
            kind = _SETS[grouping]
            return kind, {"all": "", "operation": op, "model": model, "agent": agent}[kind]

        whole_days = not (p.first_day is not None and p.end_day is not None and p.end_day <= p.first_day)
        if whole_days:
            values: list[Any] = []
            where = self._where(f, p, values)
            grouping = f"GROUPING({rk['op']}, {rk['model']}, {rk['agent']})"
            for r in await self.fetch(f"SELECT {grouping}, {rk['op']}, {rk['model']}, {rk['agent']}, {_SUMS} "
                                      f"FROM {self.names.day}{where} GROUP BY {roll_sets}", values):
                accs[key_of(r[0], r[1], r[2], r[3])].add(r[4:])
            if histograms:
                h = "h.key::integer"
                for r in await self.fetch(f"SELECT {grouping}, {rk['op']}, {rk['model']}, {rk['agent']}, {h}, "
                                          f"SUM(h.value::bigint) FROM {self.names.day} "
                                          f"CROSS JOIN LATERAL jsonb_each_text(latency) AS h{where} GROUP BY "
                                          f"GROUPING SETS (({h}), ({rk['op']}, {h}), ({rk['model']}, {h}), "
                                          f"({rk['agent']}, {h}))", values):
                    accs[key_of(r[0], r[1], r[2], r[3])].hist[int(r[4])] += int(r[5])
        for lo, hi in p.edges:
            values = []
            where = self._raw_where(f, lo, hi, values)
            grouping = f"GROUPING({ek['op']}, {ek['model']}, {ek['agent']})"
            for r in await self.fetch(f"SELECT {grouping}, {ek['op']}, {ek['model']}, {ek['agent']}, {_RAW_SUMS} "
                                      f"FROM {self.events_table}{where} GROUP BY {raw_sets}", values):
                accs[key_of(r[0], r[1], r[2], r[3])].add(r[4:])
            if histograms:
                for r in await self.fetch(f"SELECT {grouping}, {ek['op']}, {ek['model']}, {ek['agent']}, {RAW_BIN}, "
                                          f"COUNT(*) FROM {self.events_table}{where} GROUP BY GROUPING SETS "
                                          f"(({RAW_BIN}), ({ek['op']}, {RAW_BIN}), ({ek['model']}, {RAW_BIN}), "
                                          f"({ek['agent']}, {RAW_BIN}))", values):
                    accs[key_of(r[0], r[1], r[2], r[3])].hist[int(r[4])] += int(r[5])
        return accs

    async def aggregates(self, by: str, f: EventFilter | None) -> list[GroupStats]:
        """Per-group statistics (``by``: operation, model or agent)."""
        accs = await self.groups(f, histograms=True)
        return [acc.stats(key) for (kind, key), acc in accs.items() if kind == by and acc.events]

    async def costs(self, by: str, f: EventFilter | None) -> list[CostRow]:
        """Cost rows by model, operation, agent or (UTC) day."""
        if by != "day":
            accs = await self.groups(f, histograms=False)
            return [acc.cost_row(key) for (kind, key), acc in accs.items() if kind == by and acc.events]
        if f is None or f == EventFilter():
            found = await self.all_groups()
            if found is not None:
                return [acc.cost_row((date(1970, 1, 1) + timedelta(days=int(key))).isoformat())
                        for (kind, key), acc in found.items() if kind == "day" and acc.events]
        p = plan(f)
        days: dict[int, _Acc] = defaultdict(_Acc)
        if not (p.first_day is not None and p.end_day is not None and p.end_day <= p.first_day):
            values: list[Any] = []
            where = self._where(f, p, values)
            for r in await self.fetch(f"SELECT day, {_SUMS} FROM {self.names.day}{where} GROUP BY day", values):
                days[int(r[0])].add(r[1:])
        for lo, hi in p.edges:
            values = []
            where = self._raw_where(f, lo, hi, values)
            for r in await self.fetch(f"SELECT {_RAW_DAY}, {_RAW_SUMS} FROM {self.events_table}{where} GROUP BY 1",
                                      values):
                days[int(r[0])].add(r[1:])
        return [acc.cost_row((date(1970, 1, 1) + timedelta(days=d)).isoformat()) for d, acc in days.items()
                if acc.events]

    async def trace_counts(self) -> tuple[int, int]:
        """``(sessions, traces)`` over every stored event."""
        rows = await self.fetch(f"SELECT COUNT(*), COALESCE(SUM(traces), 0) FROM {self.names.session}", [])
        return int(rows[0][0]), int(rows[0][1])

    async def generation(self) -> int:
        """The state row's counter, bumped by every insert, update or delete (in its transaction)."""
        rows = await self.fetch(f"SELECT generation FROM {self.names.state} WHERE id = 1", [])
        if not rows:
            raise LookupError("the rollup state row is missing")
        return int(rows[0][0])

    async def sessions(self, limit: int, offset: int, session_id: str | None = None) -> list[SessionInfo]:
        """Sessions, most recent last event first (ties by id): an index scan of the session rollup."""
        values: list[Any] = []
        where = ""
        if session_id is not None:
            values.append(session_id)
            where = " WHERE session_id = $1"
        values += [limit, offset]
        rows = await self.fetch(f"SELECT session_id, events, errors, traces, first_ns, last_ns, input_tokens, "
                                f"output_tokens, cost_total, cost_total_n FROM {self.names.session}{where} "
                                f"ORDER BY last_ns DESC, session_id LIMIT ${len(values) - 1} OFFSET ${len(values)}",
                                values)
        return [SessionInfo(session_id=r[0], events=int(r[1]), errors=int(r[2]), traces=int(r[3]),
                            first_event=ns_to_datetime(int(r[4])), last_event=ns_to_datetime(int(r[5])),
                            input_tokens=int(r[6]), output_tokens=int(r[7]),
                            total_cost_usd=float(r[8]) if r[9] else None) for r in rows]
