"""The query layer on a Parquet dataset, with :mod:`pyarrow.dataset`.

Why pyarrow datasets rather than an embedded SQL engine: pyarrow is already a core dependency,
and a dataset scan prunes exactly what we need -- folders by partition (a date range skips the
other days' folders, a session filter skips the other sessions' folders when partitioned by
session), row groups by min/max statistics, and columns by projection (captured prompt /
response content is only read for the events of a page).

What is kept between requests: the footers' id ranges, and (bounded, least recently used out,
256 MB by default, ``LLAMONITOR_PARQUET_CACHE_MB`` or ``cache_bytes=`` to change, 0 to turn
off) the decoded summary columns of whole files -- what sessions, traces, aggregates and
summary read -- so repeated dashboard queries skip the Parquet decode. Results stay exact:
files are immutable once renamed into place, entries are keyed by (path, size, mtime_ns) so a
replaced file is decoded again, files no longer listed are dropped, the file list is taken
fresh on every request (new files are read), and filters are applied to the cached rows
exactly as the scan would (the partition folders prune files first). With them, each cached
file's key columns (session, trace, model, agent, operation) are kept dictionary-encoded, so
a summary merges small per-file label sets instead of hashing a million strings again.

Pages of events read only the files that can hold them: files are taken in order of their
first start time (footer statistics) until the next one starts after the last event the page
needs; a first page of 100 reads one file, not the dataset.

De-duplication without paying for it on every request: a batch the writer re-delivered in a
different shape (a subset, two spill files merged) can leave an event in two files. Each file
holds an event once (the backend guarantees it) and its footer records the min / max
``event_id`` and the batch that wrote it; the footers are read once per file (cached by path,
size and mtime). Files whose id range overlaps no other batch's file cannot share an event and
are read as they are; only files in overlapping ranges of different batches are de-duplicated
on ``event_id``. The writer's ids carry a per-process
prefix and a counter, so batches of one process overlap only around long-running spans.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from llamonitor.query.parquet_files import (
    ColumnCache,
    IdRange,
    _cache_bytes,
    dedupe,
    id_range,
    overlapping,
)
from llamonitor.query.parquet_rollups import (
    Rollup,
    RollupSource,
    accumulate,
    id_columns,
    inside,
    trace_counts,
)
from llamonitor.query.rollups import exact_limit, summary_from
from llamonitor.query.summary import (
    CODE_COLUMNS,
    Codes,
    FileCodes,
    _has_numpy,
    _prepare,
    file_codes,
    group_stats,
    merge_codes,
    summarize_table,
)
from llamonitor.query.timeseries import table_timeseries
from llamonitor.query.types import (
    CostGroupBy,
    CostRow,
    EventFilter,
    EventPage,
    GroupBy,
    GroupStats,
    SessionInfo,
    Summary,
    TimeBucket,
    TraceInfo,
    check_buckets,
    check_page,
    collect_events,
    decode_cursor,
    encode_cursor,
    sort_costs,
    sort_groups,
)
from llamonitor.schema.arrow import EVENT_SCHEMA, table_to_events
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent, ns_to_datetime
from llamonitor.schema.projection import SUMMARY_SCHEMA, summary_projection
from llamonitor.schema.sanitize import session_partition

_TS = pa.timestamp("ns", tz="UTC")
_NS_PER_DAY = 86_400_000_000_000
_PART = "_partition"
_SCHEMA = EVENT_SCHEMA.append(pa.field(_PART, pa.string()))
_PARTITIONING = ds.partitioning(pa.schema([(_PART, pa.string())]))


def _ts(ns: int) -> pa.Scalar:
    return pa.scalar(ns, type=pa.int64()).cast(_TS)


def _day(ns: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=ns // _NS_PER_DAY)).isoformat()


def _row_filter(f: EventFilter | None) -> pc.Expression | None:
    """``f`` as an expression over the summary columns (what :func:`_projection` names them)."""
    if f is None:
        return None
    parts: list[pc.Expression] = []
    if f.start_ns is not None:
        parts.append(pc.field("start_ns") >= f.start_ns)
    if f.end_ns is not None:
        parts.append(pc.field("start_ns") < f.end_ns)
    for column, value in (("session_id", f.session_id), ("trace_id", f.trace_id),
                          ("operation_name", f.operation_name), ("model", f.model), ("agent_name", f.agent_name)):
        if value is not None:
            parts.append(pc.field(column) == value)
    if f.errors_only:
        parts.append(pc.field("error") == True)  # noqa: E712 - an Arrow expression
    return _all(parts)


def _all(parts: list[Any]) -> Any:
    """The AND of Arrow expressions (``None`` for none)."""
    return functools.reduce(operator.and_, parts) if parts else None


class ParquetQueryBackend:
    """:class:`~llamonitor.query.types.QueryBackend` over ``StorageConfig.output_dir``."""

    def __init__(self, config: StorageConfig, *, cache_bytes: int | None = None) -> None:
        self.config = config
        self.root = Path(config.output_dir)
        #: footer id ranges by (path, size, mtime): files are immutable once renamed into place
        self._ranges: dict[tuple[str, int, int], IdRange] = {}
        #: decoded summary columns by (path, size, mtime); ``cache_bytes=0`` turns it off
        self.cache = ColumnCache(_cache_bytes(cache_bytes))
        #: key-column codes of the cached files (kept as long as their columns are cached)
        self._codes: dict[tuple[str, int, int], dict[str, FileCodes]] = {}
        #: footer rollups (written unless ``options={"rollups": False}``) answer summaries when they can
        self.rollups = RollupSource(exact_limit(config.options)) if config.option_flag("rollups", True) else None
        #: each whole file's (session_id, trace_id) columns, for the rollup summaries' distinct counts
        #: (a quarter of the column cache's bound; files the column cache holds are read from it)
        self._ids = ColumnCache(self.cache.max_bytes // 4)

    # -- scanning --------------------------------------------------------------------------------
    def _dataset(self, files: list[str] | None = None) -> ds.Dataset | None:
        if not self.root.is_dir():
            return None
        source: Any = str(self.root) if files is None else files
        dataset = ds.dataset(source, format="parquet", schema=_SCHEMA, partitioning=_PARTITIONING,
                             partition_base_dir=str(self.root))
        return dataset if dataset.files else None

    def _suspects(self, files: list[str], keys: dict[str, tuple[str, int, int]] | None = None) -> set[str]:
        """Files that may hold an event another file holds too (see the module docstring).

        ``keys`` (if given) receives each listed file's ``(path, size, mtime_ns)``.
        """
        ranges: dict[str, IdRange] = {}
        cache: dict[tuple[str, int, int], IdRange] = {}
        for path in files:
            try:
                st = os.stat(path)
            except OSError:
                continue  # removed since listing: the scan will say so if it matters
            key = (path, st.st_size, st.st_mtime_ns)
            if keys is not None:
                keys[path] = key
            found = self._ranges.get(key)
            if found is None:
                try:
                    found = id_range(path)
                except (OSError, pa.ArrowException):
                    found = IdRange(None, None)
            cache[key] = ranges[path] = found
        self._ranges = cache
        return overlapping(ranges)

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
                    parts.append(ds.field(_PART) == session_partition(f.session_id))
            for column, value in (("trace_id", f.trace_id), ("operation_name", f.operation_name),
                                  ("model", f.model)):
                if value is not None:
                    parts.append(ds.field(column) == value)
            if f.agent_name is not None:
                parts.append(ds.field("agent", "agent_name") == f.agent_name)
            if f.errors_only:
                parts.append(ds.field("error") == True)  # noqa: E712 - an Arrow expression
        return _all(parts)

    def _scan(self, columns: Any, f: EventFilter | None, extra: ds.Expression | None = None) -> pa.Table | None:
        dataset = self._dataset()
        if dataset is None:
            return None
        expr = self._expr(f)
        if extra is not None:
            expr = extra if expr is None else expr & extra
        suspects = self._suspects(dataset.files)
        if not suspects:
            return dataset.to_table(columns=columns, filter=expr)
        # Only the files in overlapping id ranges are de-duplicated (on event_id, added if needed).
        unique = [p for p in dataset.files if p not in suspects]
        with_id = columns
        if columns is not None and "event_id" not in columns:
            with_id = (dict(columns) if isinstance(columns, dict) else {c: ds.field(c) for c in columns}) | {
                "event_id": ds.field("event_id")}
        doubtful = self._dataset(sorted(suspects))
        assert doubtful is not None
        parts = [dedupe(doubtful.to_table(columns=with_id, filter=expr))]
        if with_id is not columns:
            parts[0] = parts[0].drop_columns(["event_id"])
        if unique:
            rest = self._dataset(unique)
            assert rest is not None
            parts.append(rest.to_table(columns=columns, filter=expr))
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    def _base(self, f: EventFilter | None, *, extra: dict[str, Any] | None = None) -> pa.Table | None:
        """The summary columns (plus ``extra``) of the events ``f`` selects."""
        if extra or self.cache.max_bytes <= 0:
            return self._scan(summary_projection() | (extra or {}), f)
        return self._cached_base(f)

    def _cached_base(self, f: EventFilter | None) -> pa.Table | None:
        parts = self._cached_parts(f)
        if parts is None:
            return None
        if not parts:
            return SUMMARY_SCHEMA.empty_table()
        return pa.concat_tables([t for _, t in parts]) if len(parts) > 1 else parts[0][1]

    def _cached_parts(self, f: EventFilter | None) -> list[tuple[tuple[str, int, int] | None, pa.Table]] | None:
        """The summary columns of the events ``f`` selects, one part per cached file (keyed) and
        one for files in overlapping id ranges (key ``None``); ``None`` without a dataset."""
        # Whole files' summary columns come from the cache (or are decoded once and cached);
        # the filter is applied to them in memory. Files in overlapping id ranges (rare) are
        # scanned and de-duplicated as in _scan, never cached.
        dataset = self._dataset()
        if dataset is None:
            return None
        keys: dict[str, tuple[str, int, int]] = {}
        suspects = self._suspects(dataset.files, keys)
        self.cache.retain(set(keys.values()))
        expr = self._expr(f)
        wanted = [frag.path for frag in dataset.get_fragments(filter=expr) if frag.path not in suspects]
        tables: dict[str, pa.Table] = {}
        missing: list[str] = []
        for path in wanted:
            key = keys.get(path)
            found = self.cache.get(key) if key is not None else None
            if found is None:
                missing.append(path)
            else:
                tables[path] = found
        if missing:
            tables.update(self._decode(missing, keys))
        parts: list[tuple[tuple[str, int, int] | None, pa.Table]] = [(keys.get(p), tables[p]) for p in wanted
                                                                      if p in tables]
        rows = _row_filter(f)
        if rows is not None:
            parts = [(None, t.filter(rows)) for _, t in parts]  # filtered rows: no per-file codes
        if suspects:
            doubtful = self._dataset(sorted(suspects))
            assert doubtful is not None
            with_id = summary_projection() | {"event_id": ds.field("event_id")}
            parts.append((None, dedupe(doubtful.to_table(columns=with_id, filter=expr)).drop_columns(["event_id"])))
        return parts

    def _file_codes(self, parts: list[tuple[tuple[str, int, int] | None, pa.Table]]) -> dict[str, Codes]:
        """Key-column codes of ``parts``' rows; each cached file's are encoded once and kept with it."""
        live = self.cache.keys()
        self._codes = {k: v for k, v in self._codes.items() if k in live}
        per_column: dict[str, list[FileCodes]] = {c: [] for c in CODE_COLUMNS}
        for key, table in parts:
            found = self._codes.get(key) if key is not None else None
            if found is None:
                found = {c: file_codes(table[c]) for c in CODE_COLUMNS}
                if key is not None and key in live:
                    self._codes[key] = found
            for c in CODE_COLUMNS:
                per_column[c].append(found[c])
        return {c: merge_codes(v) for c, v in per_column.items()}

    def _per_file(self, paths: list[str], columns: Any) -> dict[str, pa.Table]:
        """``columns`` of whole files, one table per file (one threaded scan of them all)."""
        dataset = self._dataset(paths)
        assert dataset is not None
        scanner = dataset.scanner(columns=columns)
        batches: dict[str, list[pa.RecordBatch]] = {p: [] for p in paths}
        for tagged in scanner.scan_batches():
            batches.setdefault(tagged.fragment.path, []).append(tagged.record_batch)
        return {path: pa.Table.from_batches(found, schema=scanner.projected_schema)
                for path, found in batches.items()}

    def _decode(self, paths: list[str], keys: dict[str, tuple[str, int, int]]) -> dict[str, pa.Table]:
        """Whole files' summary columns, cached as they are decoded."""
        out = self._per_file(paths, summary_projection())
        for path, table in out.items():
            key = keys.get(path)
            if key is not None:
                self.cache.put(key, table)
        return out

    def _rollup_rows(self, f: EventFilter | None, *, keys: bool,
                     percentiles: bool) -> tuple[Rollup, int, list[str], dict[str, Any]] | None:
        """The footer rollup rows answering ``f``, the number of files, the files ``f`` may select and
        their keys and footer facts; ``None``: use the exact path."""
        if self.rollups is None:
            return None
        dataset = self._dataset()
        if dataset is None:
            return None
        keymap: dict[str, tuple[str, int, int]] = {}
        suspects = self._suspects(dataset.files, keymap)
        expr = self._expr(f)
        files = [frag.path for frag in dataset.get_fragments(filter=expr)]
        ranges = {p: (keymap[p], self._ranges[keymap[p]]) for p in files if p in keymap and keymap[p] in self._ranges}

        def scan(paths: list[str], columns: Any, filtered: bool) -> pa.Table:
            part = self._dataset(paths)
            assert part is not None
            return part.to_table(columns=columns, filter=expr if filtered else None)

        rows = self.rollups.rows(f, keys=keys, percentiles=percentiles, files=files, ranges=ranges,
                                 suspects=suspects, scan=scan)
        return None if rows is None else (rows, len(dataset.files), files, ranges)

    def _trace_counts(self, f: EventFilter | None, files: list[str],
                      ranges: dict[str, tuple[tuple[str, int, int], IdRange]]) -> tuple[int, int]:
        """Distinct sessions and (session, trace) pairs among the events ``f`` selects in ``files``.

        A whole file's two id columns are kept (or taken from the column cache when it holds the
        file), so only new files are read; files the time range cuts are read with the filter.
        Then one hash group-by over all of them.
        """
        self._ids.retain({key for key, _ in ranges.values()})
        parts: list[pa.Table] = []
        missing: dict[str, tuple[str, int, int]] = {}
        cut: list[str] = []
        for path in files:
            entry = ranges.get(path)
            if entry is None or not inside(entry[1], f):
                cut.append(path)
                continue
            key = entry[0]
            found = self._ids.get(key)
            if found is None and (cached := self.cache.get(key)) is not None:
                found = cached.select(["session_id", "trace_id"])
            if found is None:
                missing[path] = key
            else:
                parts.append(found)
        if missing:
            for path, ids in self._per_file(list(missing), id_columns()).items():
                if path in missing:
                    self._ids.put(missing[path], ids)
                parts.append(ids)
        if cut:
            dataset = self._dataset(cut)
            assert dataset is not None
            parts.append(dataset.to_table(columns=id_columns(), filter=self._expr(f)))
        return trace_counts(pa.concat_tables(parts)) if parts else (0, 0)

    # -- events --------------------------------------------------------------------------------
    def _page_files(self, dataset: ds.Dataset, expr: ds.Expression | None, need: int,
                    after_ns: int | None) -> tuple[list[str], pa.Table]:
        """The files that can hold the first ``need`` matching events, and those events' keys.

        Files are read in order of their first start time (footer statistics) until the next
        file starts after the ``need``-th start seen so far: no event of it or of any later file
        can come first. A first page reads one file, not the dataset.
        """
        keys: dict[str, tuple[str, int, int]] = {}
        suspects = self._suspects(dataset.files, keys)
        paths = [frag.path for frag in dataset.get_fragments(filter=expr)]
        info = {p: self._ranges.get(keys[p]) if p in keys else None for p in paths}
        if after_ns is not None:  # whole files before the cursor cannot hold the page
            paths = [p for p in paths if info[p] is None or info[p].start_high is None  # type: ignore[union-attr]
                     or info[p].start_high >= after_ns]  # type: ignore[union-attr,operator]

        def first(p: str) -> int:
            r = info[p]
            return r.start_low if r is not None and r.start_low is not None else -(1 << 63)

        paths.sort(key=first)
        columns = {"start_ns": ds.field("start_time").cast(pa.int64()), "event_id": ds.field("event_id")}
        chosen: list[str] = []
        found = pa.table({"start_ns": pa.array([], pa.int64()), "event_id": pa.array([], pa.string())})
        i = 0
        while i < len(paths):
            if found.num_rows >= need:
                smallest = pc.select_k_unstable(found, need, [("start_ns", "ascending")])
                if first(paths[i]) > pc.max(found["start_ns"].take(smallest)).as_py():
                    break
            # the next files up to about `need` rows (many small files are read together)
            chunk: list[str] = []
            rows = 0
            while i < len(paths) and (not chunk or rows < need):
                r = info[paths[i]]
                chunk.append(paths[i])
                rows += r.rows if r is not None else need
                i += 1
            part = self._dataset(chunk)
            assert part is not None
            chosen += chunk
            found = pa.concat_tables([found, part.to_table(columns=columns, filter=expr)], promote_options="permissive")
            if suspects.intersection(chunk):
                found = dedupe(found)  # before counting: a copy must not stand in for another event
        return chosen, found

    def _events(self, f: EventFilter | None, limit: int, offset: int, cursor: str | None) -> EventPage:
        check_page(limit, offset)
        dataset = self._dataset()
        if dataset is None:
            return EventPage([], None)
        expr = self._expr(f)
        after_ns: int | None = None
        if cursor is not None:
            after_ns, event_id = decode_cursor(cursor)
            start = ds.field("start_time")
            extra = (start > _ts(after_ns)) | ((start == _ts(after_ns)) & (ds.field("event_id") > event_id))
            expr = extra if expr is None else expr & extra
        chosen, keys = self._page_files(dataset, expr, offset + limit + 1, after_ns)
        if keys.num_rows == 0:
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
        part = self._dataset(chosen)
        assert part is not None
        full = dedupe(part.to_table(filter=window if expr is None else expr & window))
        events = table_to_events(full)
        events.sort(key=lambda e: (e.start_time_ns, e.event_id))
        last = events[-1] if events else None
        return EventPage(events, encode_cursor(last.start_time_ns, last.event_id) if more and last else None)

    async def events(self, filter: EventFilter | None = None, *, limit: int = 100, offset: int = 0,
                     cursor: str | None = None) -> EventPage:
        """See :meth:`QueryBackend.events`."""
        return await asyncio.to_thread(self._events, filter, limit, offset, cursor)

    async def trace_events(self, trace_id: str, *, session_id: str | None = None) -> list[MetricEvent]:
        """See :meth:`QueryBackend.trace_events`."""
        return await collect_events(self, EventFilter(trace_id=trace_id, session_id=session_id))

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
        rolled = self._rollup_rows(f, keys=True, percentiles=True)
        if rolled is not None:
            accs = accumulate(rolled[0], histograms=True, kinds=(by,))
            return sort_groups([acc.stats(key) for (kind, key), acc in accs.items() if kind == by and acc.events])
        table = self._base(f)
        if table is None:
            return []
        return sort_groups(group_stats(table, by))

    async def aggregates(self, by: GroupBy, filter: EventFilter | None = None) -> list[GroupStats]:
        """See :meth:`QueryBackend.aggregates`."""
        return await asyncio.to_thread(self._aggregates, by, filter)

    def _costs(self, by: CostGroupBy, f: EventFilter | None) -> list[CostRow]:
        if by not in ("model", "operation", "session", "day", "agent"):
            raise ValueError(f"by must be one of model, operation, session, day, agent; got {by!r}")
        rolled = self._rollup_rows(f, keys=True, percentiles=False) if by != "session" else None
        if rolled is not None:
            accs = accumulate(rolled[0], histograms=False, kinds=(by,))
            return sort_costs([acc.cost_row((date(1970, 1, 1) + timedelta(days=int(key))).isoformat()
                                            if by == "day" else key)
                               for (kind, key), acc in accs.items() if kind == by and acc.events], by)
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
        rolled = self._rollup_rows(f, keys=False, percentiles=True)
        if rolled is not None:
            rows, n_files, selected, ranges = rolled
            sessions, traces = self._trace_counts(f, selected, ranges)
            return summary_from(accumulate(rows, histograms=True), sessions, traces, path=str(self.root),
                                files=n_files)
        dataset = self._dataset()
        files = len(dataset.files) if dataset is not None else 0
        if self.cache.max_bytes > 0 and _has_numpy():
            parts = self._cached_parts(f)
            if not parts:
                return summarize_table(SUMMARY_SCHEMA.empty_table(), path=str(self.root), files=files)
            table = pa.concat_tables([t for _, t in parts]) if len(parts) > 1 else parts[0][1]
            return summarize_table(table, path=str(self.root), files=files, codes=self._file_codes(parts))
        table = self._base(f)
        if table is None:
            table = SUMMARY_SCHEMA.empty_table()
        return summarize_table(table, path=str(self.root), files=files)

    async def summary(self, filter: EventFilter | None = None) -> Summary:
        """See :meth:`QueryBackend.summary`."""
        return await asyncio.to_thread(self._summary, filter)

    def _timeseries(self, f: EventFilter | None, buckets: int) -> list[TimeBucket]:
        check_buckets(buckets)
        table = self._base(f)
        if table is None:
            return []
        lo = f.start_ns if f is not None else None
        hi = f.end_ns if f is not None else None
        if (lo is None or hi is None) and table.num_rows == 0:
            return []
        lo = pc.min(table["start_ns"]).as_py() if lo is None else lo
        hi = pc.max(table["start_ns"]).as_py() + 1 if hi is None else hi
        if hi <= lo:
            return []
        tokens = pc.add(pc.fill_null(pc.coalesce(table["usage_in"], table["text_in"]), 0),
                        pc.fill_null(pc.coalesce(table["usage_out"], table["text_out"]), 0))
        slim = pa.table({"start_ns": table["start_ns"], "duration_ms": table["duration_ms"], "error": table["error"],
                         "tokens": tokens, "cost": table["cost"]})
        return table_timeseries(slim, lo, hi, buckets)

    async def timeseries(self, filter: EventFilter | None = None, *, buckets: int = 24) -> list[TimeBucket]:
        """See :meth:`QueryBackend.timeseries` (from the same cached columns as the summary)."""
        return await asyncio.to_thread(self._timeseries, filter, buckets)

    async def close(self) -> None:
        """Nothing to release (no state between requests)."""
        await asyncio.sleep(0)
