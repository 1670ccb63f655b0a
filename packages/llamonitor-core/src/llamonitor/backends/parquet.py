"""Parquet backend: the embedded default.

Layout: ``<output_dir>/<partition>/events_<utc time>_<content hash>.parquet`` where the
partition is the event's UTC date (``YYYY-MM-DD``) or its sanitised session id. Every file has
the one fixed schema of :mod:`llamonitor.schema.arrow`, is zstd-compressed, and appears
atomically (written as ``.tmp`` then renamed), so readers never see partial files.

Re-delivery is made cheap to recognise, so the query layer rarely has to de-duplicate:

- a file holds each ``event_id`` once (a batch's repeats are dropped before writing);
- a batch is all or nothing: every partition's file is written first, then all are renamed
  (a failure removes what this batch wrote, so a retry starts clean);
- a file is named after a hash of its event ids (and the minute the batch was first written
  is not part of the hash), so re-delivering the very same batch (a retry, a spill replayed
  twice after a crash) replaces the file instead of adding a second copy. A re-delivered
  batch that differs (a subset, a merge) is caught by the query layer through the event-id
  ranges in the file footers (:mod:`llamonitor.query.parquet`);
- each file's footer carries the file's rollup (per-day aggregates and latency histograms,
  :mod:`llamonitor.backends.parquet_rollups`) so summaries can skip decoding it;
- each file's footer names its batch (``llamonitor.batch``: a hash of the batch's ids), so the
  files of one batch, whose id ranges interleave when partitioned by session, are known not to
  share events.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llamonitor.backends.base import StorageBackend
from llamonitor.backends.parquet_rollups import ROLLUP_KEY, file_rollup
from llamonitor.backends.tmpfiles import remove_stale_tmp, tmp_path
from llamonitor.schema.arrow import EVENT_SCHEMA, WRITER_POOL
from llamonitor.schema.batch import Column, as_list
from llamonitor.schema.columnar import batch_columns, columns_to_table
from llamonitor.schema.columns import COLUMN_NAMES
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent
from llamonitor.schema.sanitize import session_partition

#: footer key naming the batch a file was written by (read by :mod:`llamonitor.query.parquet`)
BATCH_KEY = b"llamonitor.batch"

_ID, _SESSION, _START = (COLUMN_NAMES.index(c) for c in ("event_id", "session_id", "start_time_ns"))
_NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH_DATE = date(1970, 1, 1)


def first_occurrences(ids: list[str]) -> list[int] | None:
    """Positions of each id's first occurrence, or ``None`` when every id is unique."""
    if len(set(ids)) == len(ids):
        return None
    seen: set[str] = set()
    keep: list[int] = []
    for i, event_id in enumerate(ids):
        if event_id not in seen:
            seen.add(event_id)
            keep.append(i)
    return keep


#: event ids: a list, or the Arrow strings the writer's fast path makes
Ids = Any


def _joined(ids: Ids) -> bytes:
    """The ids joined by NUL, UTF-8: what the digests hash (the same bytes for a list or an Arrow array)."""
    if isinstance(ids, list):
        return "\x00".join(ids).encode("utf-8", "surrogatepass")
    if not len(ids):
        return b""
    # One Arrow kernel over the whole column (without the GIL) instead of a Python str per id.
    one = pa.ListArray.from_arrays(pa.array([0, len(ids)], type=pa.int32()),
                                   pc.cast(ids, pa.binary(), memory_pool=WRITER_POOL))
    joined: bytes = pc.binary_join(one, b"\x00", memory_pool=WRITER_POOL)[0].as_py()
    return joined


def _ids_digest(ids: Ids, size: int) -> str:
    return hashlib.blake2b(_joined(ids), digest_size=size).hexdigest()


def file_name(ids: Ids, first_start_ns: int) -> str:
    """``events_<first event's UTC day and minute>_<hash of the event ids>.parquet``.

    Deterministic in the events: the same batch always gets the same name, so writing it again
    replaces the earlier file. The time part (from the events, not the clock) only keeps
    listings in rough time order.
    """
    stamp = datetime.fromtimestamp(first_start_ns // 1_000_000_000, tz=timezone.utc)
    return f"events_{stamp:%Y%m%dT%H%M}_{_ids_digest(ids, 12)}.parquet"


def batch_tag(ids: Ids) -> str:
    """A hash of a batch's event ids, in order, recorded in each of its files' footers.

    Files with the same tag hold parts of the same batch, hence no event twice (see
    :func:`llamonitor.query.parquet.overlapping`). It is as specific as the file names: the
    same tag means the same ids in the same order, hence the same file names.
    """
    return _ids_digest(ids, 16)


class ParquetBackend(StorageBackend):
    """Writes each batch as one Parquet file per partition."""

    name = "parquet"
    batch_layout = "columns"

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self.root = Path(config.output_dir)
        self.files_written = 0
        self.rows_written = 0
        #: write each file's rollup into its footer (``options={"rollups": False}`` leaves it out)
        self.rollups = config.option_flag("rollups", True)
        compression = config.compression
        self._compression: str | None = None if compression == "none" else compression

    async def initialize(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(f"parquet backend: cannot create output_dir {str(self.root)!r}: {exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"parquet backend: output_dir {str(self.root)!r} is not writable")
        #: temporary files of killed writers removed at start (see backends/tmpfiles.py)
        self.stale_tmp_removed = remove_stale_tmp(self.root)

    def _partitions(self, columns: list[Column], positions: Sequence[int]) -> Mapping[str, Sequence[int]]:
        """Partition name -> positions (in batch order) of the events it gets."""
        whole = len(positions) == len(columns[_START] or ())
        if self.config.partition_by == "session_id":
            sessions = as_list(columns[_SESSION] or [])
            if whole and sessions and sessions.count(sessions[0]) == len(sessions):  # one session (C-level test)
                return {session_partition(sessions[0]): positions}
            groups: dict[str, list[int]] = defaultdict(list)
            for i in positions:
                groups[session_partition(sessions[i])].append(i)
            return groups
        starts = as_list(columns[_START] or [])
        if whole and min(starts) // _NS_PER_DAY == max(starts) // _NS_PER_DAY:  # the usual case, in C
            return {(_EPOCH_DATE + timedelta(days=starts[0] // _NS_PER_DAY)).isoformat(): positions}
        days = [starts[i] // _NS_PER_DAY for i in positions]
        if days.count(days[0]) == len(days):  # the usual case: one batch, one day
            return {(_EPOCH_DATE + timedelta(days=days[0])).isoformat(): positions}
        by_day: dict[int, list[int]] = defaultdict(list)
        for i, day in zip(positions, days, strict=True):
            by_day[day].append(i)
        return {(_EPOCH_DATE + timedelta(days=day)).isoformat(): members for day, members in by_day.items()}

    def write_sync(self, events: Sequence[MetricEvent]) -> list[Path]:
        """Write ``events`` now (blocking), all partitions or none; returns the files written."""
        if not events:
            return []
        columns = batch_columns(events)
        table = columns_to_table(columns, len(events))
        ids: Ids = columns[_ID] or []
        starts: list[int] = as_list(columns[_START] or [])
        if isinstance(ids, pa.Array) and pc.count_distinct(ids).as_py() != len(ids):
            ids = ids.to_pylist()  # repeats (a re-delivered event): the exact path below
        keep = None if isinstance(ids, pa.Array) else first_occurrences(ids)
        # a range, not a list of every position: the usual batch is written whole
        positions: Sequence[int] = range(len(events)) if keep is None else keep
        metadata = {**(EVENT_SCHEMA.metadata or {}),
                    BATCH_KEY: batch_tag(ids if keep is None else [ids[i] for i in keep]).encode("ascii")}
        staged: list[tuple[Path, Path, int]] = []
        try:
            for partition, members in self._partitions(columns, positions).items():
                folder = self.root / partition
                folder.mkdir(parents=True, exist_ok=True)
                if len(members) == len(ids):
                    part_ids = ids
                elif isinstance(ids, pa.Array):
                    part_ids = pc.take(ids, pa.array(members, type=pa.int64()), memory_pool=WRITER_POOL)
                else:
                    part_ids = [ids[i] for i in members]
                first = min(starts) if len(members) == len(starts) else min(starts[i] for i in members)
                name = file_name(part_ids, first)
                tmp = tmp_path(folder / name, hidden=True)
                staged.append((tmp, folder / name, len(members)))
                part = table if len(members) == len(events) else pc.take(table, members, memory_pool=WRITER_POOL)
                rollup = file_rollup(part) if self.rollups else None
                meta = metadata if rollup is None else {**metadata, ROLLUP_KEY: rollup}
                pq.write_table(part.replace_schema_metadata(meta), tmp, compression=self._compression,
                               memory_pool=WRITER_POOL)
        except BaseException:
            for tmp, _, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, final, rows in staged:
            os.replace(tmp, final)
            self.rows_written += rows
        self.files_written += len(staged)
        return [final for _, final, _ in staged]

    async def write_batch(self, events: Sequence[MetricEvent]) -> None:
        # The worker owns this loop; writing inline avoids a thread hop per batch.
        self.write_sync(events)

    async def close(self) -> None:
        await asyncio.sleep(0)

    async def health(self) -> dict[str, Any]:
        return {"backend": self.name, "output_dir": str(self.root), "files_written": self.files_written,
                "rows_written": self.rows_written}
