"""Parquet backend: the embedded default.

Layout: ``<output_dir>/<partition>/events_<utc time>_<pid>_<n>.parquet`` where the partition
is the event's UTC date (``YYYY-MM-DD``) or its sanitised session id. Every file has the one
fixed schema of :mod:`llamonitor.backends.arrow`, is zstd-compressed, and appears atomically
(written as ``.tmp`` then renamed), so readers never see partial files.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from llamonitor.backends.arrow import events_to_table
from llamonitor.backends.base import StorageBackend
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent
from llamonitor.transport.spill import safe_name

_seq = itertools.count(1)
_NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH_DATE = date(1970, 1, 1)


class ParquetBackend(StorageBackend):
    """Writes each batch as one Parquet file per partition."""

    name = "parquet"

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self.root = Path(config.output_dir)
        self.files_written = 0
        self.rows_written = 0
        compression = config.compression
        self._compression: str | None = None if compression == "none" else compression

    async def initialize(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(f"parquet backend: cannot create output_dir {str(self.root)!r}: {exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"parquet backend: output_dir {str(self.root)!r} is not writable")

    def _groups(self, events: Sequence[MetricEvent]) -> dict[str, list[MetricEvent]]:
        groups: dict[str, list[MetricEvent]] = defaultdict(list)
        if self.config.partition_by == "session_id":
            for event in events:
                groups[safe_name(event.session_id or "default")].append(event)
            return groups
        # Group by UTC day number first (an integer division per event), name days after.
        by_day: dict[int, list[MetricEvent]] = defaultdict(list)
        for event in events:
            by_day[event.start_time_ns // _NS_PER_DAY].append(event)
        for day, members in by_day.items():
            groups[(_EPOCH_DATE + timedelta(days=day)).isoformat()] = members
        return groups

    def write_sync(self, events: Sequence[MetricEvent]) -> list[Path]:
        """Write ``events`` now (blocking); returns the files created."""
        groups = self._groups(events)
        written: list[Path] = []
        for partition, group in groups.items():
            folder = self.root / partition
            folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            name = f"events_{stamp}_{os.getpid()}_{next(_seq):06d}.parquet"
            tmp = folder / f".{name}.tmp"
            try:
                pq.write_table(events_to_table(group), tmp, compression=self._compression)
                os.replace(tmp, folder / name)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            written.append(folder / name)
            self.rows_written += len(group)
        self.files_written += len(written)
        return written

    async def write_batch(self, events: Sequence[MetricEvent]) -> None:
        # The worker owns this loop; writing inline avoids a thread hop per batch.
        if events:
            self.write_sync(events)

    async def close(self) -> None:
        await asyncio.sleep(0)

    async def health(self) -> dict[str, Any]:
        return {"backend": self.name, "output_dir": str(self.root), "files_written": self.files_written,
                "rows_written": self.rows_written}
