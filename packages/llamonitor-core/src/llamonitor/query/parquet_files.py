"""What the Parquet query layer knows about the immutable files, without reading their rows.

- footer statistics: each file's ``event_id`` range, start-time range, row count, the batch
  that wrote it and its rollup (:func:`id_range`), read once per file;
- which files may share an event (:func:`overlapping`) and how to drop the copies
  (:func:`dedupe`);
- the bounded cache of decoded summary columns per file (:class:`ColumnCache`).

Files are immutable once renamed into place, so everything here is keyed by
``(path, size, mtime_ns)`` and never goes stale.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
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
