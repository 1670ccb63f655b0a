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
exactly as the scan would (the partition folders prune files first). (With
``options={"listing_max_age_ms": N}`` a listing begun up to N ms before a request arrived is
shared with it: files renamed into place in those last N ms may be missed, nothing older.) With them, each cached
file's key columns (session, trace, model, agent, operation) are kept dictionary-encoded, so
a summary merges small per-file label sets instead of hashing a million strings again.

Pages of events read only the files that can hold them: files are taken in order of their
first start time (footer statistics) until the next one starts after the last event the page
needs; a first page of 100 reads one file, not the dataset. A page is kept (64 at most) with
the files it was computed from, and answered again as long as the files added since all start
after its last event (they cannot change it): appending never invalidates early pages.

What a request costs besides its own answer: a snapshot of the file set
(:class:`~llamonitor.query.parquet_files.FileTracker`: a ``stat`` per partition folder, a listing
of the folders that changed, each new file's footer read once), shared by concurrent requests.
Its ``version`` is this backend's storage generation (:meth:`ParquetQueryBackend.generation`).
While the dataset has few folders (:attr:`~llamonitor.query.parquet_files.FileTracker.cheap`), the
snapshot, a kept page and a current index are read on the event loop: a thread hop would cost
more than the look itself.
Without filters, summary / aggregates / costs come from every footer rollup added up once and
extended file by file (:class:`~llamonitor.query.parquet_rollups.Totals`), and sessions / traces
from per-pair totals extended likewise (:mod:`llamonitor.query.parquet_index`); with filters,
from the pruned files as described above. Blocking work runs on the query thread pool
(:mod:`llamonitor.query.threads`).

De-duplication without paying for it on every request: a batch the writer re-delivered in a
different shape (a subset, two spill files merged) can leave an event in two files. Each file
holds an event once (the backend guarantees it) and its footer records the min / max
``event_id`` and the batch that wrote it; the footers are read once per file (cached by path,
size and mtime). Files whose id range overlaps no other batch's file cannot share an event and
are read as they are. The writer's ids are random (UUID-shaped, from the trace and span ids), so
nearly every batch's range overlaps every other's: for those files the ids themselves are
checked, once per file (:class:`~llamonitor.query.parquet_files.IdCheck`, 64-bit hashes in a
sorted array), and only files that really share an id with another batch's file are
de-duplicated on ``event_id``.
"""

from __future__ import annotations

import functools
import operator
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from llamonitor.query import parquet_index as index
from llamonitor.query.parquet_files import (
    _FORMAT,
    _FS,
    ColumnCache,
    FileInfo,
    FileTracker,
    IdRange,
    Snapshot,
    _cache_bytes,
    dedupe,
    listing_max_age,
)
from llamonitor.query.parquet_rollups import (
    Rollup,
    RollupSource,
    Totals,
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
from llamonitor.query.threads import asked, run_blocking
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


def _unfiltered(f: EventFilter | None) -> bool:
    return f is None or f == EventFilter()


Key = tuple[str, int, int]


@dataclass
class _Page:
    """A computed page, the files it was computed from, and what can change it."""

    keys: frozenset[Key]
    page: EventPage
    #: start (ns) of the page's last event when more follow: a file starting later cannot change the page
    bound: int | None


#: pages kept (each at most MAX_PAGE events)
PAGE_CACHE = 64


class ParquetQueryBackend:
    """:class:`~llamonitor.query.types.QueryBackend` over ``StorageConfig.output_dir``."""

    #: pages are kept across appends that cannot change them (the generation cache leaves them be)
    caches_pages = True

    def __init__(self, config: StorageConfig, *, cache_bytes: int | None = None) -> None:
        self.config = config
        self.root = Path(config.output_dir)
        #: the file set, snapshotted per request (see :class:`FileTracker`)
        self.tracker = FileTracker(str(self.root), max_age=listing_max_age(config.options))
        #: decoded summary columns by (path, size, mtime); ``cache_bytes=0`` turns it off
        self.cache = ColumnCache(_cache_bytes(cache_bytes))
        #: key-column codes of the cached files (kept as long as their columns are cached)
        self._codes: dict[Key, dict[str, FileCodes]] = {}
        #: footer rollups (written unless ``options={"rollups": False}``) answer summaries when they can
        self.rollups = RollupSource(exact_limit(config.options)) if config.option_flag("rollups", True) else None
        #: every file's rollup added up (summary, aggregates and costs without filters)
        self.totals = Totals()
        #: per-session and per-trace totals (sessions and traces); bounded like the id columns
        self.index = index.SessionIndex(self.cache.max_bytes // 2)
        #: each whole file's (session_id, trace_id) columns, for the rollup summaries' distinct counts
        #: (a quarter of the column cache's bound; files the column cache holds are read from it)
        self._ids = ColumnCache(self.cache.max_bytes // 4)
        self._pages: OrderedDict[tuple[Any, ...], _Page] = OrderedDict()
        self._pages_lock = threading.Lock()
        self._computing: dict[tuple[Any, ...], threading.Lock] = {}
        self._retained = 0

    # -- the file set ----------------------------------------------------------------------------
    def _snap(self, floor: float | None = None) -> Snapshot:
        """The file set (a listing begun at or after ``floor``); caches drop files no longer listed."""
        snap = self.tracker.snapshot(floor)
        self._retain(snap)
        return snap

    def _snap_now(self, floor: float) -> Snapshot | None:
        """:meth:`_snap` on the event loop: ``None`` when it would wait (a query thread is listing,
        or the listing is not cheap); the caller then goes to the thread pool."""
        snap = self.tracker.shared(floor)  # a listing shared within ``listing_max_age_ms``: free
        if snap is None:
            if not self.tracker.cheap:
                return None
            snap = self.tracker.try_snapshot(floor)
        if snap is not None:
            self._retain(snap)
        return snap

    def _retain(self, snap: Snapshot) -> None:
        if snap.version != self._retained:
            self._retained = snap.version
            self.cache.retain(set(snap.keys))
            self._ids.retain(set(snap.keys))
            if self.rollups is not None:
                self.rollups.retain(snap.keys)


    def _select(self, snap: Snapshot, f: EventFilter | None) -> list[FileInfo]:
        """The files that may hold events ``f`` selects (partition folder and footer start times)."""
        if f is None:
            return list(snap.files)
        lo, hi = f.start_ns, f.end_ns
        part = (session_partition(f.session_id) if f.session_id is not None and self.config.partition_by != "date"
                else None)
        out = []
        for info in snap.files:
            facts = info.facts
            if part is not None and info.partition and info.partition != part:
                continue
            if lo is not None and facts.start_high is not None and facts.start_high < lo:
                continue
            if hi is not None and facts.start_low is not None and facts.start_low >= hi:
                continue
            out.append(info)
        return out

    @staticmethod
    def _files_dataset(infos: Sequence[FileInfo]) -> ds.Dataset:
        return ds.FileSystemDataset([i.fragment(_PART) for i in infos], _SCHEMA, _FORMAT, _FS)

    def _dataset(self, files: list[str] | None = None) -> ds.Dataset | None:
        """A dataset of ``files`` (default: every file now); ``None`` when there is none."""
        snap = self._snap()
        if files is None:
            infos: list[FileInfo] = list(snap.files)
        else:
            infos = [snap.by_path.get(p) or FileInfo(p, (p, 0, 0), IdRange(None, None), self._partition_of(p))
                     for p in files]
        return self._files_dataset(infos) if infos else None

    def _partition_of(self, path: str) -> str:
        try:
            parts = Path(path).relative_to(self.root).parts
        except ValueError:
            return ""
        return parts[0] if len(parts) > 1 else ""

    def _suspects(self, files: list[str]) -> set[str]:
        """Files (of ``files``) that may hold an event another file holds too (see the module docstring)."""
        snap = self._snap()
        return {p for p in files if p in snap.suspects}

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

    def _scan(self, columns: Any, f: EventFilter | None, extra: ds.Expression | None = None,
              floor: float | None = None) -> pa.Table | None:
        snap = self._snap(floor)
        if not snap.files:
            return None
        infos = self._select(snap, f)
        expr = self._expr(f)
        if extra is not None:
            expr = extra if expr is None else expr & extra
        doubtful = [i for i in infos if i.path in snap.suspects]
        if not doubtful:
            return self._files_dataset(infos).to_table(columns=columns, filter=expr)
        # Only the files in overlapping id ranges are de-duplicated (on event_id, added if needed).
        unique = [i for i in infos if i.path not in snap.suspects]
        with_id = columns
        if columns is not None and "event_id" not in columns:
            with_id = (dict(columns) if isinstance(columns, dict) else {c: ds.field(c) for c in columns}) | {
                "event_id": ds.field("event_id")}
        parts = [dedupe(self._files_dataset(doubtful).to_table(columns=with_id, filter=expr))]
        if with_id is not columns:
            parts[0] = parts[0].drop_columns(["event_id"])
        if unique:
            parts.append(self._files_dataset(unique).to_table(columns=columns, filter=expr))
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    def _base(self, f: EventFilter | None, *, extra: dict[str, Any] | None = None,
              floor: float | None = None) -> pa.Table | None:
        """The summary columns (plus ``extra``) of the events ``f`` selects."""
        if extra or self.cache.max_bytes <= 0:
            return self._scan(summary_projection() | (extra or {}), f, floor=floor)
        return self._cached_base(f, floor)

    def _cached_base(self, f: EventFilter | None, floor: float | None = None) -> pa.Table | None:
        parts = self._cached_parts(f, floor)
        if parts is None:
            return None
        if not parts:
            return SUMMARY_SCHEMA.empty_table()
        return pa.concat_tables([t for _, t in parts]) if len(parts) > 1 else parts[0][1]

    def _cached_parts(self, f: EventFilter | None, floor: float | None = None
                      ) -> list[tuple[Key | None, pa.Table]] | None:
        """The summary columns of the events ``f`` selects, one part per cached file (keyed) and
        one for files in overlapping id ranges (key ``None``); ``None`` without a dataset."""
        # Whole files' summary columns come from the cache (or are decoded once and cached);
        # the filter is applied to them in memory. Files in overlapping id ranges (rare) are
        # scanned and de-duplicated as in _scan, never cached.
        snap = self._snap(floor)
        if not snap.files:
            return None
        selected = self._select(snap, f)
        wanted = [i for i in selected if i.path not in snap.suspects]
        tables = self._whole(wanted)
        parts: list[tuple[Key | None, pa.Table]] = [(i.key, tables[i.path]) for i in wanted if i.path in tables]
        rows = _row_filter(f)
        if rows is not None:
            parts = [(None, t.filter(rows)) for _, t in parts]  # filtered rows: no per-file codes
        doubtful = [i for i in selected if i.path in snap.suspects]
        if doubtful:
            with_id = summary_projection() | {"event_id": ds.field("event_id")}
            table = self._files_dataset(doubtful).to_table(columns=with_id, filter=self._expr(f))
            parts.append((None, dedupe(table).drop_columns(["event_id"])))
        return parts

    def _whole(self, infos: list[FileInfo]) -> dict[str, pa.Table]:
        """Whole files' summary columns: from the column cache, the others decoded (and cached)."""
        tables: dict[str, pa.Table] = {}
        missing: list[FileInfo] = []
        for info in infos:
            found = self.cache.get(info.key)
            if found is None:
                missing.append(info)
            else:
                tables[info.path] = found
        if missing:
            tables.update(self._decode(missing))
        return tables

    def _file_codes(self, parts: list[tuple[Key | None, pa.Table]]) -> dict[str, Codes]:
        """Key-column codes of ``parts``' rows; each cached file's are encoded once and kept with it."""
        live = self.cache.keys()
        self._codes = {k: v for k, v in list(self._codes.items()) if k in live}  # list(): one step, threads
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

    def _per_file(self, infos: list[FileInfo], columns: Any) -> dict[str, pa.Table]:
        """``columns`` of whole files, one table per file (one threaded scan of them all)."""
        scanner = self._files_dataset(infos).scanner(columns=columns)
        batches: dict[str, list[pa.RecordBatch]] = {i.path: [] for i in infos}
        for tagged in scanner.scan_batches():
            batches.setdefault(tagged.fragment.path, []).append(tagged.record_batch)
        return {path: pa.Table.from_batches(found, schema=scanner.projected_schema)
                for path, found in batches.items()}

    def _decode(self, infos: list[FileInfo]) -> dict[str, pa.Table]:
        """Whole files' summary columns, cached as they are decoded."""
        out = self._per_file(infos, summary_projection())
        keys = {i.path: i.key for i in infos}
        for path, table in out.items():
            if path in keys:
                self.cache.put(keys[path], table)
        return out

    def _scan_paths(self, snap: Snapshot, expr: ds.Expression | None) -> Any:
        def scan(paths: list[str], columns: Any, filtered: bool) -> pa.Table:
            return self._files_dataset([snap.by_path[p] for p in paths]).to_table(
                columns=columns, filter=expr if filtered else None)
        return scan

    def _rollup_rows(self, f: EventFilter | None, *, keys: bool, percentiles: bool, floor: float | None = None,
                     ) -> tuple[Rollup, int, list[str], dict[str, Any], Snapshot] | None:
        """The footer rollup rows answering ``f``, the number of files, the files ``f`` may select and
        their keys and footer facts, and the snapshot they come from; ``None``: use the exact path."""
        if self.rollups is None:
            return None
        snap = self._snap(floor)
        if not snap.files:
            return None
        expr = self._expr(f)
        files = [i.path for i in self._select(snap, f)]
        ranges = {p: (snap.by_path[p].key, snap.by_path[p].facts) for p in files}
        rows = self.rollups.rows(f, keys=keys, percentiles=percentiles, files=files, ranges=ranges,
                                 suspects=set(snap.suspects), scan=self._scan_paths(snap, expr))
        return None if rows is None else (rows, len(snap.files), files, ranges, snap)

    def _totals(self, snap: Snapshot) -> Any:
        """Every event's groups (:data:`~llamonitor.query.parquet_rollups.TOTAL_KINDS`) from the footer
        rollups, or ``None`` (no rollups, files that may share events, too few events for histogram
        percentiles)."""
        rollups = self.rollups
        if rollups is None or not snap.files:
            return None
        scan = self._scan_paths(snap, None)
        accs = self.totals.groups(snap, lambda i: rollups._file_rollup(i.path, i.key, i.facts, scan))
        if accs is None:
            return None
        total = accs.get(("all", ""))
        if total is None or total.events <= rollups.exact_limit:
            return None  # few events: exact percentiles from the columns
        return accs

    def _index(self, snap: Snapshot) -> Any:
        """The session index state for ``snap`` (or newer), ``None`` when it cannot answer."""
        if self.cache.max_bytes <= 0 or not snap.files:
            return None
        return self.index.update(snap, self._whole)

    def _trace_counts(self, f: EventFilter | None, files: list[str],
                      ranges: dict[str, tuple[Key, IdRange]], snap: Snapshot) -> tuple[int, int]:
        """Distinct sessions and (session, trace) pairs among the events ``f`` selects in ``files``
        (of ``snap``: the snapshot the caller took them from).

        Unfiltered, the session index answers. Otherwise a whole file's two id columns are kept
        (or taken from the column cache when it holds the file), so only new files are read;
        files the time range cuts are read with the filter. Then one hash group-by over all of them.
        """
        # ``snap`` is passed, not taken again: while files arrive a second look may find a newer
        # file set, which ``files`` would no longer cover (the index would be skipped for a group-by)
        if _unfiltered(f) and len(files) == len(snap.files):
            state = self._index(snap)
            if state is not None:
                return index.counts(state)
        parts: list[pa.Table] = []
        missing: dict[str, Key] = {}
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
            for path, ids in self._per_file([snap.by_path[p] for p in missing], id_columns()).items():
                if path in missing:
                    self._ids.put(missing[path], ids)
                parts.append(ids)
        if cut:
            parts.append(self._files_dataset([snap.by_path[p] for p in cut]).to_table(
                columns=id_columns(), filter=self._expr(f)))
        return trace_counts(pa.concat_tables(parts)) if parts else (0, 0)

    # -- events --------------------------------------------------------------------------------
    def _page_files(self, snap: Snapshot, infos: list[FileInfo], expr: ds.Expression | None, need: int,
                    after_ns: int | None) -> tuple[list[FileInfo], pa.Table]:
        """The files that can hold the first ``need`` matching events, and those events' keys.

        Files are read in order of their first start time (footer statistics) until the next
        file starts after the ``need``-th start seen so far: no event of it or of any later file
        can come first. A first page reads one file, not the dataset.
        """
        if after_ns is not None:  # whole files before the cursor cannot hold the page
            infos = [i for i in infos if i.facts.start_high is None or i.facts.start_high >= after_ns]

        def first(i: FileInfo) -> int:
            return i.facts.start_low if i.facts.start_low is not None else -(1 << 63)

        infos = sorted(infos, key=first)
        columns = {"start_ns": ds.field("start_time").cast(pa.int64()), "event_id": ds.field("event_id")}
        chosen: list[FileInfo] = []
        found = pa.table({"start_ns": pa.array([], pa.int64()), "event_id": pa.array([], pa.string())})
        i = 0
        while i < len(infos):
            if found.num_rows >= need:
                smallest = pc.select_k_unstable(found, need, [("start_ns", "ascending")])
                if first(infos[i]) > pc.max(found["start_ns"].take(smallest)).as_py():
                    break
            # the next files up to about `need` rows (many small files are read together)
            chunk: list[FileInfo] = []
            rows = 0
            while i < len(infos) and (not chunk or rows < need):
                chunk.append(infos[i])
                rows += infos[i].facts.rows or need
                i += 1
            chosen += chunk
            found = pa.concat_tables([found, self._files_dataset(chunk).to_table(columns=columns, filter=expr)],
                                     promote_options="permissive")
            if any(c.path in snap.suspects for c in chunk):
                found = dedupe(found)  # before counting: a copy must not stand in for another event
        return chosen, found

    def _cached_page(self, key: tuple[Any, ...], snap: Snapshot, f: EventFilter | None) -> EventPage | None:
        with self._pages_lock:
            hit = self._pages.get(key)
            if hit is None:
                return None
            if hit.keys is snap.keys:  # the same file set (a snapshot listed again shares it)
                self._pages.move_to_end(key)
                return hit.page
            added = snap.added_since(hit.keys)
            if added is None:
                del self._pages[key]
                return None
            if added:
                selected = {i.path for i in self._select(snap, f)}
                for info in added:
                    low = info.facts.start_low
                    if info.path in selected and not (hit.bound is not None and low is not None and low > hit.bound):
                        del self._pages[key]  # a new file may hold an event of this page
                        return None
                hit.keys = snap.keys
            self._pages.move_to_end(key)
            return hit.page

    def _events(self, f: EventFilter | None, limit: int, offset: int, cursor: str | None,
                floor: float | None = None) -> EventPage:
        check_page(limit, offset)
        snap = self._snap(floor)
        if not snap.files:
            return EventPage([], None)
        key = (f, limit, offset, cursor)
        cached = self._cached_page(key, snap, f)
        if cached is not None:
            return cached
        with self._pages_lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:  # one computation per page at a time: the others wait for it, then hit
            cached = self._cached_page(key, snap, f)
            if cached is not None:
                return cached
            page = self._compute_page(snap, f, limit, offset, cursor)
            last = page.events[-1] if page.events else None
            with self._pages_lock:
                self._pages[key] = _Page(snap.keys, page, last.start_time_ns if page.next_cursor and last else None)
                self._pages.move_to_end(key)
                while len(self._pages) > PAGE_CACHE:
                    evicted, _ = self._pages.popitem(last=False)
                    self._computing.pop(evicted, None)
        return page

    def _compute_page(self, snap: Snapshot, f: EventFilter | None, limit: int, offset: int,
                      cursor: str | None) -> EventPage:
        expr = self._expr(f)
        after_ns: int | None = None
        if cursor is not None:
            after_ns, event_id = decode_cursor(cursor)
            start = ds.field("start_time")
            extra = (start > _ts(after_ns)) | ((start == _ts(after_ns)) & (ds.field("event_id") > event_id))
            expr = extra if expr is None else expr & extra
        chosen, keys = self._page_files(snap, self._select(snap, f), expr, offset + limit + 1, after_ns)
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
        holding = [i for i in chosen if i.facts.start_low is None or i.facts.start_high is None
                   or (i.facts.start_high >= lo and i.facts.start_low <= hi)]
        full = dedupe(self._files_dataset(holding).to_table(filter=window if expr is None else expr & window))
        events = table_to_events(full)
        events.sort(key=lambda e: (e.start_time_ns, e.event_id))
        last = events[-1] if events else None
        return EventPage(events, encode_cursor(last.start_time_ns, last.event_id) if more and last else None)

    async def events(self, filter: EventFilter | None = None, *, limit: int = 100, offset: int = 0,
                     cursor: str | None = None) -> EventPage:
        """See :meth:`QueryBackend.events`."""
        floor = asked()
        snap = self._snap_now(floor) if cursor is None else None
        if snap is not None and snap.files:  # a kept page: no thread hop
            check_page(limit, offset)
            cached = self._cached_page((filter, limit, offset, cursor), snap, filter)
            if cached is not None:
                return cached
        return await run_blocking(self._events, filter, limit, offset, cursor, floor)

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

    def _sessions(self, f: EventFilter | None, limit: int, offset: int, floor: float | None = None
                  ) -> list[SessionInfo]:
        check_page(limit, offset)
        snap = self._snap(floor)
        only_session = f is not None and f.session_id is not None and f == EventFilter(session_id=f.session_id)
        if _unfiltered(f) or only_session:
            state = self._index(snap)
            if state is not None:
                if f is not None and f.session_id is not None:
                    found = index.session_info(state, f.session_id)
                    return [found] if found is not None and offset == 0 else []
                return index.sessions_page(state, limit, offset)
        table = self._base(f, floor=floor)
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
        return await run_blocking(self._sessions, filter, limit, offset, asked())

    def _traces(self, session_id: str, limit: int, offset: int, floor: float | None = None) -> list[TraceInfo]:
        check_page(limit, offset)
        state = self._index(self._snap(floor))
        if state is not None:
            return index.traces_page(state, session_id, limit, offset)
        table = self._base(EventFilter(session_id=session_id), floor=floor)
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
        floor = asked()
        snap = self._snap_now(floor)
        if snap is not None and snap.files and self.cache.max_bytes > 0:  # the index is current: no thread hop
            state = self.index.current(snap)
            if state is not None:
                check_page(limit, offset)
                return index.traces_page(state, session_id, limit, offset)
        return await run_blocking(self._traces, session_id, limit, offset, floor)

    # -- aggregates ------------------------------------------------------------------------------
    def _aggregates(self, by: GroupBy, f: EventFilter | None, floor: float | None = None) -> list[GroupStats]:
        if by not in ("operation", "model", "agent"):
            raise ValueError(f"by must be one of operation, model, agent; got {by!r}")
        if _unfiltered(f):
            accs = self._totals(self._snap(floor))
            if accs is not None:
                return sort_groups([acc.stats(key) for (kind, key), acc in accs.items() if kind == by and acc.events])
        rolled = self._rollup_rows(f, keys=True, percentiles=True, floor=floor)
        if rolled is not None:
            accs = accumulate(rolled[0], histograms=True, kinds=(by,))
            return sort_groups([acc.stats(key) for (kind, key), acc in accs.items() if kind == by and acc.events])
        table = self._base(f, floor=floor)
        if table is None:
            return []
        return sort_groups(group_stats(table, by))

    async def aggregates(self, by: GroupBy, filter: EventFilter | None = None) -> list[GroupStats]:
        """See :meth:`QueryBackend.aggregates`."""
        return await run_blocking(self._aggregates, by, filter, asked())

    def _costs(self, by: CostGroupBy, f: EventFilter | None, floor: float | None = None) -> list[CostRow]:
        if by not in ("model", "operation", "session", "day", "agent"):
            raise ValueError(f"by must be one of model, operation, session, day, agent; got {by!r}")
        accs = None
        if by != "session" and _unfiltered(f):
            accs = self._totals(self._snap(floor))
        if accs is None and by != "session":
            rolled = self._rollup_rows(f, keys=True, percentiles=False, floor=floor)
            accs = accumulate(rolled[0], histograms=False, kinds=(by,)) if rolled is not None else None
        if accs is not None:
            return sort_costs([acc.cost_row((date(1970, 1, 1) + timedelta(days=int(key))).isoformat()
                                            if by == "day" else key)
                               for (kind, key), acc in accs.items() if kind == by and acc.events], by)
        table = self._base(f, extra={"cost_in": ds.field("cost", "input_cost_usd"),
                                     "cost_out": ds.field("cost", "output_cost_usd")}, floor=floor)
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
        return await run_blocking(self._costs, by, filter, asked())

    def _summary(self, f: EventFilter | None, floor: float | None = None) -> Summary:
        snap = self._snap(floor)
        if _unfiltered(f):
            accs = self._totals(snap)
            if accs is not None:
                sessions, traces = self._trace_counts(f, snap.paths, {i.path: (i.key, i.facts) for i in snap.files},
                                                      snap)
                return summary_from(accs, sessions, traces, path=str(self.root), files=len(snap.files))
        rolled = self._rollup_rows(f, keys=False, percentiles=True, floor=floor)
        if rolled is not None:
            rows, n_files, selected, ranges, rolled_snap = rolled
            sessions, traces = self._trace_counts(f, selected, ranges, rolled_snap)
            return summary_from(accumulate(rows, histograms=True), sessions, traces, path=str(self.root),
                                files=n_files)
        files = len(snap.files)
        if self.cache.max_bytes > 0 and _has_numpy():
            parts = self._cached_parts(f, floor)
            if not parts:
                return summarize_table(SUMMARY_SCHEMA.empty_table(), path=str(self.root), files=files)
            table = pa.concat_tables([t for _, t in parts]) if len(parts) > 1 else parts[0][1]
            return summarize_table(table, path=str(self.root), files=files, codes=self._file_codes(parts))
        table = self._base(f, floor=floor)
        if table is None:
            table = SUMMARY_SCHEMA.empty_table()
        return summarize_table(table, path=str(self.root), files=files)

    async def summary(self, filter: EventFilter | None = None) -> Summary:
        """See :meth:`QueryBackend.summary`."""
        return await run_blocking(self._summary, filter, asked())

    def _timeseries(self, f: EventFilter | None, buckets: int, floor: float | None = None) -> list[TimeBucket]:
        check_buckets(buckets)
        table = self._base(f, floor=floor)
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
        return await run_blocking(self._timeseries, filter, buckets, asked())

    async def generation(self) -> int:
        """The storage generation: the file set's version (a new or replaced file makes a new one).

        Equal generations hold the same files, hence the same events (see
        :class:`~llamonitor.query.cache.CachedQueryBackend`).
        """
        floor = asked()
        snap = self._snap_now(floor)
        if snap is None:
            snap = await run_blocking(self._snap, floor)
        return snap.version

    async def ping(self) -> None:
        """Raise when the dataset cannot be read (``output_dir`` exists but is not a readable folder)."""
        await run_blocking(self._ping)

    def _ping(self) -> None:
        if self.root.exists():
            with os.scandir(self.root):
                pass

    async def close(self) -> None:
        """Nothing to release (the caches go with the object)."""
