"""What the Parquet query layer knows about the immutable files, without reading their rows.

- footer statistics: each file's ``event_id`` range, start-time range, row count, the batch
  that wrote it and its rollup (:func:`id_range`), read once per file;
- which files may share an event (:func:`overlapping`) and how to drop the copies
  (:func:`dedupe`);
- the bounded cache of decoded summary columns per file (:class:`ColumnCache`);
- the dataset's file set as immutable, versioned snapshots (:class:`FileTracker`), listed
  cheaply enough to be taken on every request.

Files are immutable once renamed into place, so everything here is keyed by
``(path, size, mtime_ns)`` and never goes stale.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from llamonitor.backends.parquet import BATCH_KEY
from llamonitor.backends.parquet_rollups import ROLLUP_KEY


def dedupe(table: pa.Table) -> pa.Table:
    """``table`` with one row per ``event_id`` (the first), unchanged when ids are unique."""
    if table.num_rows == 0 or pc.count_distinct(table["event_id"]).as_py() == table.num_rows:
        return table
    indexed = table.append_column("_row", pa.array(range(table.num_rows), type=pa.int64()))
    first = indexed.group_by("event_id", use_threads=False).aggregate([("_row", "min")])
    rows = first["_row_min"]
    return table.take(rows.take(pc.sort_indices(rows)))


@dataclass(frozen=True)
class IdRange:
    """The smallest and largest ``event_id`` of one file (``None``: the footer does not say), and
    the batch that wrote it (``None``: not recorded)."""

    low: str | None
    high: str | None
    batch: str | None = None
    #: the file's ``start_time`` range in ns (``None``: unknown) and row count, for paging
    start_low: int | None = None
    start_high: int | None = None
    rows: int = 0
    #: the file's footer rollup, as written (:mod:`llamonitor.backends.parquet_rollups`)
    rollup: bytes | None = None


_UNIT_NS = {"nanoseconds": 1, "microseconds": 1_000, "milliseconds": 1_000_000}


def _column_stats(group: Any, name: str) -> Any:
    column = next((group.column(c) for c in range(group.num_columns)
                   if group.column(c).path_in_schema == name), None)
    stats = column.statistics if column is not None else None
    return stats if stats is not None and stats.has_min_max else None


def _start_range(meta: Any) -> tuple[int | None, int | None]:
    low: int | None = None
    high: int | None = None
    for g in range(meta.num_row_groups):
        stats = _column_stats(meta.row_group(g), "start_time")
        unit = next((n for u, n in _UNIT_NS.items() if stats is not None and u in str(stats.logical_type)), None)
        if stats is None or unit is None:
            return None, None
        lo, hi = int(stats.min_raw) * unit, int(stats.max_raw) * unit
        low = lo if low is None else min(low, lo)
        high = hi if high is None else max(high, hi)
    return low, high


def id_range(path: str) -> IdRange:
    """The ``event_id`` (and start time) range of a Parquet file, from its footer (no data read)."""
    meta = pq.read_metadata(path)
    batch = (meta.metadata or {}).get(BATCH_KEY)
    rollup = (meta.metadata or {}).get(ROLLUP_KEY)
    start_low, start_high = _start_range(meta)
    low: str | None = None
    high: str | None = None
    for g in range(meta.num_row_groups):
        stats = _column_stats(meta.row_group(g), "event_id")
        if stats is None:
            return IdRange(None, None, None, start_low, start_high, meta.num_rows, rollup)
        low = stats.min if low is None else min(low, stats.min)
        high = stats.max if high is None else max(high, stats.max)
    return IdRange(low, high, batch.decode("ascii", "replace") if batch else None, start_low, start_high,
                   meta.num_rows, rollup)


def overlapping(ranges: dict[str, IdRange]) -> set[str]:
    """The files that may share events: id range unknown, or overlapping another batch's file.

    Files of one batch never share an event (the writer splits a batch's distinct events into
    partitions), so ranges that overlap only among files of the same batch are fine -- with
    session partitioning every batch's files interleave. Two files with the same batch tag are
    the same batch: a re-delivery of the very same batch replaces its files (same names).
    """
    suspect = {path for path, r in ranges.items() if r.low is None or r.high is None}
    known = sorted(((r.low, r.high, path) for path, r in ranges.items() if path not in suspect),
                   key=lambda item: (item[0], item[1]))

    def mixed(paths: list[str]) -> bool:
        return len({ranges[p].batch or p for p in paths}) > 1

    cluster: list[str] = []
    cluster_high: str | None = None
    for low, high, path in known:
        assert low is not None and high is not None
        if cluster_high is not None and low <= cluster_high:
            cluster.append(path)
            cluster_high = max(cluster_high, high)
            continue
        if mixed(cluster):
            suspect.update(cluster)
        cluster, cluster_high = [path], high
    if mixed(cluster):
        suspect.update(cluster)
    return suspect


#: default bound of :class:`ColumnCache` (``LLAMONITOR_PARQUET_CACHE_MB`` overrides it; 0 turns it off)
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
_CACHE_ENV = "LLAMONITOR_PARQUET_CACHE_MB"


class ColumnCache:
    """Decoded summary columns of whole files, least recently used first out, bounded in bytes.

    Keyed by ``(path, size, mtime_ns)``: a file is immutable once renamed into place, and a file
    replaced under the same name (a re-delivered batch) gets a new key, so an entry is never
    stale. Entries of files that are no longer listed are dropped at the next query.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, int, int], pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, int, int]) -> pa.Table | None:
        with self._lock:
            table = self._entries.get(key)
            if table is not None:
                self._entries.move_to_end(key)
            return table

    def put(self, key: tuple[str, int, int], table: pa.Table) -> None:
        size = table.get_total_buffer_size()
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old.get_total_buffer_size()
            self._entries[key] = table
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= evicted.get_total_buffer_size()

    def keys(self) -> set[tuple[str, int, int]]:
        """The keys cached now."""
        with self._lock:
            return set(self._entries)

    def retain(self, keys: set[tuple[str, int, int]]) -> None:
        """Drop the entries of files not in ``keys`` (removed or replaced since)."""
        with self._lock:
            for key in [k for k in self._entries if k not in keys]:
                self.bytes -= self._entries.pop(key).get_total_buffer_size()


def _cache_bytes(value: int | None) -> int:
    if value is not None:
        return max(0, value)
    env = os.environ.get(_CACHE_ENV)
    return DEFAULT_CACHE_BYTES if env is None else max(0, int(float(env) * 1024 * 1024))


# -- the file set ----------------------------------------------------------------------------------
#: a directory whose modification time is older than this (when listed) cannot change unseen:
#: a later rename into it moves its mtime (file-system clocks tick in milliseconds, not seconds)
SETTLE_NS = 1_000_000_000
#: every folder is listed and every file stat'ed again at least this often (seconds): a file
#: rewritten in place -- not renamed into place, as the writer does -- is seen within it
RECHECK_SECONDS = 5.0
#: a dataset with at most this many folders, and at most this many files in a folder being written,
#: is snapshotted on the event loop (a few ``stat`` calls: less than a thread hop)
CHEAP_DIRS = 100
CHEAP_FILES = 2_000
#: ``storage.options["listing_max_age_ms"]``: how old (ms) a listing of the file set may be when a
#: request shares it; 0 (the default): only listings begun after the request arrived
LISTING_MAX_AGE_OPTION = "listing_max_age_ms"
_FORMAT = ds.ParquetFileFormat()
_FS = pafs.LocalFileSystem()


def _hidden(name: str) -> bool:
    # what pyarrow.dataset skips by default: temporary files of a write in progress, spill folders
    return name.startswith((".", "_"))


def listing_max_age(options: dict[str, Any]) -> float:
    """``options["listing_max_age_ms"]`` (validated) in seconds; 0 when not set."""
    value = options.get(LISTING_MAX_AGE_OPTION, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value > 60_000:
        raise ValueError(f"storage.options[{LISTING_MAX_AGE_OPTION!r}] must be a number of milliseconds "
                         f"from 0 to 60000; got {value!r}")
    return float(value) / 1000


@dataclass(frozen=True, eq=False)
class FileInfo:
    """One data file of a snapshot: its cache key, footer facts and partition folder."""

    path: str
    #: ``(path, size, mtime_ns)``: a file replaced under the same name gets a new key
    key: tuple[str, int, int]
    facts: IdRange
    #: the first folder under the root (the partition value), ``""`` for a file at the root
    partition: str
    _fragment: list[Any] = field(default_factory=list, repr=False)

    def fragment(self, partition_field: str) -> ds.Fragment:
        """The file as a dataset fragment carrying its partition value (made once)."""
        if not self._fragment:
            expr = ds.field(partition_field) == self.partition if self.partition else None
            self._fragment.append(_FORMAT.make_fragment(self.path, _FS, partition_expression=expr))
        fragment: ds.Fragment = self._fragment[0]
        return fragment


class Snapshot:
    """The data files at one moment, with their footer facts; immutable.

    ``version`` grows by one each time the tracker sees a different file set, so it is a
    storage generation: equal versions hold the same files, hence the same events.
    """

    __slots__ = ("_by_path", "_resolve", "_suspects", "files", "keys", "rows", "started", "version")

    def __init__(self, version: int, started: float, files: tuple[FileInfo, ...],
                 resolve: Callable[[tuple[FileInfo, ...]], frozenset[str]] | None = None) -> None:
        self.version = version
        #: ``time.monotonic()`` when the listing began: it shows every file renamed into place before
        self.started = started
        self.files = files
        self.keys = frozenset(f.key for f in files)
        self.rows = sum(f.facts.rows for f in files)
        # made on first use (by whichever thread needs them), shared by the snapshots listed again
        self._by_path: list[dict[str, FileInfo]] = []
        self._suspects: list[frozenset[str]] = []
        self._resolve = resolve

    @property
    def by_path(self) -> dict[str, FileInfo]:
        """The files by path."""
        if not self._by_path:
            self._by_path.append({f.path: f for f in self.files})
        return self._by_path[0]

    @property
    def suspects(self) -> frozenset[str]:
        """Files that may hold an event another batch's file holds too: id ranges that overlap
        (:func:`overlapping`), confirmed by the ids themselves when the tracker checked them
        (:class:`IdCheck`)."""
        if not self._suspects:
            found = (self._resolve(self.files) if self._resolve is not None
                     else frozenset(overlapping({f.path: f.facts for f in self.files})))
            self._suspects.append(found)
        return self._suspects[0]

    @property
    def suspects_known(self) -> bool:
        """Whether :attr:`suspects` is computed (reading it may read new files' ids otherwise: not on
        the event loop)."""
        return bool(self._suspects)

    def relisted(self, started: float) -> Snapshot:
        """The same files, listed again at ``started`` (nothing recomputed)."""
        out = Snapshot.__new__(Snapshot)
        for name in Snapshot.__slots__:
            setattr(out, name, getattr(self, name))
        out.started = started
        return out

    @property
    def paths(self) -> list[str]:
        """The files' paths, sorted."""
        return [f.path for f in self.files]

    def added_since(self, keys: Iterable[tuple[str, int, int]]) -> list[FileInfo] | None:
        """The files added since a set of file ``keys`` was current; ``None`` when one of those is gone
        (removed or replaced): then the change is not an append."""
        old = keys if isinstance(keys, (set, frozenset)) else set(keys)
        if not old <= self.keys:
            return None
        return [f for f in self.files if f.key not in old]


@dataclass
class _Dir:
    mtime_ns: int
    settled: bool
    files: list[FileInfo]
    #: each file's (name, inode) as listed: a file renamed into place has a new inode
    entries: dict[tuple[str, int], FileInfo]
    dirs: list[str]


class IdCheck:
    """Which files really share an event id.

    Footer id ranges tell files apart while ids grow (a counter); random ids (trace-id based,
    UUID-shaped, what the writer makes) make every batch's range span the id space, so every
    file would overlap every other and be de-duplicated on every query. So the ids themselves
    are checked, once per file: their 64-bit hashes (Python's ``hash``, stable within the
    process) go into one sorted array (plus a dictionary of the recent ones), a new file's hashes
    are looked up there (``searchsorted``), and only files whose hashes meet another batch's
    file's are suspects (a hash collision only makes a harmless extra suspect). Cost: one read of
    the ``event_id`` column per file (about 1.7 ms per 700-event file; 2.6 s for a million events
    at start), 8 to 24 bytes per event. A file removed or replaced rebuilds the check from the
    kept per-file hashes. Needs NumPy (without it the ranges decide).
    """

    def __init__(self) -> None:
        import numpy as np

        self._np = np
        self._per_file: dict[tuple[str, int, int], Any] = {}
        self._owner: dict[tuple[str, int, int], int] = {}
        self._files: list[tuple[tuple[str, int, int], str | None]] = []
        self._base = np.empty(0, dtype=np.int64)
        self._base_owner = np.empty(0, dtype=np.int64)
        self._recent: dict[int, int] = {}
        #: files found to share an id with another batch's file
        self.sharing: set[tuple[str, int, int]] = set()

    def _hashes(self, info: FileInfo) -> Any:
        found = self._per_file.get(info.key)
        if found is None:
            ids = pq.read_table(info.path, columns=["event_id"]).column(0).to_pylist()
            found = self._np.sort(self._np.fromiter(map(hash, ids), dtype=self._np.int64, count=len(ids)))
            self._per_file[info.key] = found
        return found

    def add(self, info: FileInfo) -> None:
        """Check ``info``'s ids against every file added before, then keep them."""
        np = self._np
        if info.key in self._owner:
            return
        hashes = self._hashes(info)
        owner = len(self._files)
        self._owner[info.key] = owner
        self._files.append((info.key, info.facts.batch))
        met: set[int] = set()
        if len(self._base):
            at = np.searchsorted(self._base, hashes)
            inside = at < len(self._base)
            hit = np.zeros(len(hashes), dtype=bool)
            hit[inside] = self._base[at[inside]] == hashes[inside]
            met.update(self._base_owner[at[hit]].tolist())
        recent = self._recent
        for h in hashes.tolist():
            other = recent.get(h)
            if other is not None:
                met.add(other)
            recent[h] = owner
        for other in met:
            key, batch = self._files[other]
            if other != owner and (batch is None or batch != info.facts.batch):
                self.sharing.update((key, info.key))
        if len(recent) > 100_000:
            self._compact()

    def _compact(self) -> None:
        np = self._np
        extra = np.fromiter(self._recent.keys(), dtype=np.int64, count=len(self._recent))
        owners = np.fromiter(self._recent.values(), dtype=np.int64, count=len(self._recent))
        merged = np.concatenate([self._base, extra])
        order = np.argsort(merged, kind="stable")
        self._base, self._base_owner = merged[order], np.concatenate([self._base_owner, owners])[order]
        self._recent = {}

    def reset(self, keep: set[tuple[str, int, int]]) -> None:
        """Forget the index (files were removed or replaced); kept hashes of ``keep`` stay."""
        self._per_file = {k: v for k, v in self._per_file.items() if k in keep}
        self._owner, self._files, self._recent, self.sharing = {}, [], {}, set()
        self._base = self._np.empty(0, dtype=self._np.int64)
        self._base_owner = self._np.empty(0, dtype=self._np.int64)

    @property
    def checked(self) -> set[tuple[str, int, int]]:
        """The files in the index."""
        return set(self._owner)


def _id_check() -> IdCheck | None:
    try:
        return IdCheck()
    except ImportError:  # pragma: no cover - NumPy is optional
        return None


class FileTracker:
    """Snapshots of a dataset's files, cheap enough for every request.

    A directory is listed again only when its modification time changed or is recent (a rename
    into it within the same clock tick would not move it): the date-partitioned layout costs one
    ``stat`` per day folder plus a listing of today's, in which only new entries (a new name, or
    a new inode under an old name: a file renamed into place) are stat'ed and their footers read.
    Files appear and are replaced by rename (as the writer does), which moves their folder's
    modification time; anything else (a file rewritten in place) is seen at the next full
    re-check, at most :data:`RECHECK_SECONDS` later.
    Callers pass ``floor`` (a ``time.monotonic()`` value, usually when their request arrived): a
    snapshot whose listing began at or after it is fresh enough and is shared, so concurrent
    requests list once. When nothing changed, the previous snapshot is handed out again (same
    version, nothing recomputed).

    ``max_age`` (seconds, default 0) trades freshness for listings: a listing begun up to
    ``max_age`` before ``floor`` is shared too. A snapshot then shows every file renamed into place
    before ``floor - max_age`` (and maybe later ones), never less; under many requests a second the
    dataset is listed at most about once per ``max_age``.
    """

    def __init__(self, root: str, *, settle_ns: int = SETTLE_NS, recheck_seconds: float = RECHECK_SECONDS,
                 check_ids: bool = True, max_age: float = 0.0) -> None:
        self.root = root
        self.max_age = max_age
        self.settle_ns = settle_ns
        self.recheck_seconds = recheck_seconds
        self._checked = -float("inf")
        self._dirs: dict[str, _Dir] = {}
        #: each file seen, by (path, size, mtime): its footer is read once
        self._infos: dict[tuple[str, int, int], FileInfo] = {}
        self._latest: Snapshot | None = None
        self._lock = threading.Lock()
        #: directory listings done (for tests and the benchmark)
        self.listings = 0
        #: files whose id ranges overlap are checked by their ids (None: without NumPy, or not asked:
        #: the live tail needs no suspects, and a snapshot then finds them by ranges if asked)
        self.ids = _id_check() if check_ids else None
        self.check_ids = check_ids
        self._ids_lock = threading.Lock()

    @property
    def cheap(self) -> bool:
        """Whether a snapshot costs a few ``stat`` calls (few folders, none with many files being
        written): callers may take it on the event loop."""
        if time.monotonic() - self._checked >= self.recheck_seconds or len(self._dirs) > CHEAP_DIRS:
            return False  # a full re-check (every file stat'ed) is due, or many folders
        return all(d.settled or len(d.files) <= CHEAP_FILES for d in list(self._dirs.values()))

    def shared(self, floor: float) -> Snapshot | None:
        """The latest snapshot if it is fresh enough for ``floor`` (nothing is listed), else ``None``."""
        latest = self._latest
        return latest if latest is not None and latest.started >= floor - self.max_age else None

    def snapshot(self, floor: float | None = None) -> Snapshot:
        """The file set now: shared when a listing began at or after ``floor`` (default: now)."""
        found = self.try_snapshot(floor, wait=True)
        assert found is not None
        return found

    def try_snapshot(self, floor: float | None = None, *, wait: bool = False) -> Snapshot | None:
        """:meth:`snapshot`, or ``None`` when another thread is listing and ``wait`` is false (the
        event loop must not wait for a lock a query thread holds)."""
        if floor is None:
            floor = time.monotonic()
        found = self.shared(floor)
        if found is not None:
            return found
        floor -= self.max_age
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            return self._snapshot(floor)
        finally:
            self._lock.release()

    def _snapshot(self, floor: float) -> Snapshot:
        latest = self._latest
        if latest is not None and latest.started >= floor:
            return latest  # listed by another thread while this one waited
        started = time.monotonic()
        full = started - self._checked >= self.recheck_seconds
        if full:
            self._checked = started
        files: list[FileInfo] = []
        seen: set[str] = set()
        changed = self._walk(self.root, "", time.time_ns(), files, seen, full)
        gone = [p for p in self._dirs if p not in seen]
        for path in gone:
            del self._dirs[path]
        if latest is not None and not changed and not gone:
            snap = latest.relisted(started)
        else:
            files.sort(key=lambda f: f.path)
            live = {f.key for f in files}
            self._infos = {k: v for k, v in self._infos.items() if k in live}
            if latest is not None and latest.keys == live and len(latest.files) == len(files):
                snap = latest.relisted(started)
            else:
                snap = Snapshot((latest.version + 1) if latest is not None else 1, started, tuple(files),
                                self._suspects if self.check_ids else None)
        self._latest = snap
        return snap

    def _suspects(self, files: tuple[FileInfo, ...]) -> frozenset[str]:
        """The files of a file set that may share an event with another batch's file: with NumPy,
        those whose ids really meet another batch's (:class:`IdCheck`: each file's ids are read
        once, a new file costs its own); without, those whose id ranges overlap. Made on first use
        of :attr:`Snapshot.suspects`, in a query thread (new files' ids may be read)."""
        check = self.ids
        if check is None:
            return frozenset(overlapping({f.path: f.facts for f in files}))
        unreadable: set[str] = set()
        with self._ids_lock:
            latest = self._latest
            mine = {f.key for f in files}
            newest = latest.keys if latest is not None else frozenset()
            if any(k not in mine and k not in newest for k in check.checked):
                check.reset(mine | newest)  # a checked file was removed or replaced since
            for f in files:
                try:
                    check.add(f)
                except (OSError, pa.ArrowException):
                    unreadable.add(f.path)  # gone meanwhile, or damaged: the scan de-duplicates it
            sharing = set(check.sharing)
        return frozenset(unreadable | {f.path for f in files if f.key in sharing})

    def _walk(self, path: str, partition: str, now_ns: int, out: list[FileInfo], seen: set[str],
              full: bool) -> bool:
        """Collect the files under ``path``; whether anything differs from the last walk."""
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return path in self._dirs  # not created yet, or removed: no files
        seen.add(path)
        known = self._dirs.get(path)
        changed = known is None
        if full or known is None or not known.settled or known.mtime_ns != mtime:
            listed = self._list(path, partition, mtime, now_ns, None if full or known is None else known.entries)
            if listed is None:
                return True
            changed = changed or listed.files != known.files or listed.dirs != known.dirs  # type: ignore[union-attr]
            known = self._dirs[path] = listed
        out.extend(known.files)
        for name in known.dirs:
            changed = self._walk(os.path.join(path, name), partition or name, now_ns, out, seen, full) or changed
        return changed

    def _list(self, path: str, partition: str, mtime: int, now_ns: int,
              known: dict[tuple[str, int], FileInfo] | None) -> _Dir | None:
        self.listings += 1
        files: list[FileInfo] = []
        entries: dict[tuple[str, int], FileInfo] = {}
        dirs: list[str] = []
        try:
            listing = list(os.scandir(path))
        except OSError:
            return None
        for entry in listing:
            if _hidden(entry.name):
                continue
            try:
                if entry.is_dir():
                    dirs.append(entry.name)
                    continue
                ident = (entry.name, entry.inode())
                info = known.get(ident) if known is not None else None
                if info is None:
                    info = self._info(entry, partition)
            except OSError:
                continue  # removed since listed
            entries[ident] = info
            files.append(info)
        return _Dir(mtime, now_ns - mtime > self.settle_ns, files, entries, sorted(dirs))

    def _info(self, entry: os.DirEntry[str], partition: str) -> FileInfo:
        st = entry.stat()
        key = (entry.path, st.st_size, st.st_mtime_ns)
        info = self._infos.get(key)
        if info is None:
            try:
                facts = id_range(entry.path)
            except (OSError, pa.ArrowException):
                facts = IdRange(None, None)  # unreadable footer: a suspect, the scan says why
            info = self._infos[key] = FileInfo(entry.path, key, facts, partition)
        return info
