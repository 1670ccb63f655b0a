"""Local spill store: batches a sink could not take, and events that overflowed the queue.

Layout under ``spill_dir``::

    <sink name>/batch_<time>_<pid>_<n>.parquet   # one failed batch for one sink
    _overflow/overflow_<pid>_<time>.jsonl        # queue overflow (policy "spill"), for every sink
    _dead_letter/<sink name>/dead_<pid>_<time>.jsonl  # events a sink refused on their own (never replayed)

Files are written to a temporary name and renamed, so a reader never sees half a file; a
replayed file is deleted only after its sink accepted it.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from llamonitor.backends.tmpfiles import pid_alive, remove_stale_tmp, tmp_path
from llamonitor.schema.events import MetricEvent
from llamonitor.schema.sanitize import safe_name
from llamonitor.schema.serialize import event_from_dict, event_to_dict

OVERFLOW_DIR = "_overflow"
#: events a sink refused even alone, with the error (kept for a person to look at, never replayed)
DEAD_LETTER_DIR = "_dead_letter"
_seq = itertools.count(1)


def _recover_stale_claims(folder: Path) -> None:
    """Give back files claimed by a process that died mid-replay, so they are not stranded."""
    for path in folder.glob("*.claimed-*"):
        owner = path.name.rsplit(".claimed-", 1)[1]
        if owner.isdigit() and int(owner) != os.getpid() and not pid_alive(int(owner)):
            try:
                SpillStore.release(path)
            except OSError:
                pass


class SpillStore:
    """Reads and writes spill files under one directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        #: temporary files of killed writers removed at start (see backends/tmpfiles.py)
        self.stale_tmp_removed = remove_stale_tmp(self.root)
        self._overflow_lock = threading.Lock()
        self._overflow_file: Path | None = None
        self._dead_files: dict[str, Path] = {}

    def write_batch(self, sink: str, events: Sequence[MetricEvent]) -> Path:
        """Spill one batch for ``sink`` as a Parquet file; returns its path."""
        folder = self.root / safe_name(sink)
        folder.mkdir(parents=True, exist_ok=True)
        # pyarrow is imported on first spill, not when llamonitor is imported.
        import pyarrow.parquet as pq

        from llamonitor.schema.columnar import events_to_table

        name = f"batch_{time.time_ns()}_{os.getpid()}_{next(_seq)}.parquet"
        final = folder / name
        tmp = tmp_path(final)
        pq.write_table(events_to_table(events), tmp, compression="zstd")
        os.replace(tmp, final)
        return final

    def append_overflow(self, event: MetricEvent) -> None:
        """Append one event to this process's overflow file (JSON lines)."""
        line = json.dumps(event_to_dict(event), ensure_ascii=False, default=str) + "\n"
        with self._overflow_lock:
            if self._overflow_file is None:
                folder = self.root / OVERFLOW_DIR
                folder.mkdir(parents=True, exist_ok=True)
                self._overflow_file = folder / f"overflow_{os.getpid()}_{time.time_ns()}.jsonl"
            with open(self._overflow_file, "a", encoding="utf-8") as fh:
                fh.write(line)

    def write_dead_letter(self, sink: str, event: MetricEvent, error: str) -> Path:
        """Append one refused event, with the sink's (masked) error, to this process's dead-letter file.

        JSON lines, ASCII-escaped, so a value no store could hold (a lone surrogate) is kept exactly
        as it was recorded: ``{"sink", "error", "dead_lettered_at", "event"}``.
        """
        line = json.dumps({"sink": sink, "error": error, "dead_lettered_at": time.time(),
                           "event": event_to_dict(event)}, ensure_ascii=True, default=str) + "\n"
        with self._overflow_lock:
            path = self._dead_files.get(sink)
            if path is None:
                folder = self.root / DEAD_LETTER_DIR / safe_name(sink)
                folder.mkdir(parents=True, exist_ok=True)
                path = self._dead_files[sink] = folder / f"dead_{os.getpid()}_{time.time_ns()}.jsonl"
            with open(path, "a", encoding="ascii") as fh:
                fh.write(line)
        return path

    def quarantine(self, claimed: Path, sink: str, error: str) -> Path:
        """Move a spill file that cannot be read to the dead-letter folder (with its error beside it)."""
        folder = self.root / DEAD_LETTER_DIR / safe_name(sink)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / ("unreadable_" + claimed.name.rsplit(".claimed-", 1)[0])
        os.replace(claimed, target)
        target.with_name(target.name + ".error.txt").write_text(error + "\n", encoding="utf-8")
        return target

    def dead_letters(self) -> list[Path]:
        """Every dead-letter file under this spill directory."""
        folder = self.root / DEAD_LETTER_DIR
        return sorted(folder.glob("*/*.jsonl")) if folder.is_dir() else []

    def close_overflow(self) -> None:
        """Start a new overflow file next time (the current one becomes replayable)."""
        with self._overflow_lock:
            self._overflow_file = None

    def pending(self, sink: str | None = None) -> list[Path]:
        """Spilled files, oldest first: one sink's batches, or all (``sink=None``)."""
        if not self.root.exists():
            return []
        if sink is not None:
            folders = [self.root / safe_name(sink)]
        else:
            folders = [p for p in self.root.iterdir() if p.is_dir() and p.name != DEAD_LETTER_DIR]
        files: list[Path] = []
        for folder in folders:
            if folder.is_dir():
                _recover_stale_claims(folder)
                files.extend(p for p in folder.iterdir()
                             if p.suffix in (".parquet", ".jsonl") and not p.name.endswith(".tmp"))
        return sorted(files, key=lambda p: p.name)

    def overflow_files(self, *, include_current: bool = False) -> list[Path]:
        """Overflow files ready for replay (the one being appended to is skipped by default)."""
        files = self.pending(OVERFLOW_DIR)
        if not include_current and self._overflow_file is not None:
            files = [f for f in files if f != self._overflow_file]
        return files

    @staticmethod
    def claim(path: Path) -> Path | None:
        """Atomically take ``path`` for replay (``None`` if another process took it first).

        Several processes may share a spill directory; the rename makes sure only one of them
        replays a given file. Give it back with :meth:`release` if the replay fails.
        """
        claimed = path.with_name(f"{path.name}.claimed-{os.getpid()}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        return claimed

    @staticmethod
    def release(claimed: Path) -> Path:
        """Undo :meth:`claim` (the file becomes pending again)."""
        original = claimed.with_name(claimed.name.rsplit(".claimed-", 1)[0])
        os.rename(claimed, original)
        return original

    @staticmethod
    def read(path: Path) -> list[MetricEvent]:
        """Events of a spill file (Parquet batch or JSON-lines overflow)."""
        if ".jsonl" in path.suffixes:
            events = []
            with open(path, encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        events.append(event_from_dict(json.loads(line)))
                    except (ValueError, TypeError) as exc:
                        # A torn last line (process killed mid-write) is the only expected case.
                        raise ValueError(f"{path}:{lineno}: unreadable spilled event: {exc}") from exc
            return events
        import pyarrow.parquet as pq

        from llamonitor.schema.arrow import table_to_events

        return table_to_events(pq.read_table(path))

    def count_events(self) -> int:
        """Total events waiting in spill files."""
        total = 0
        for path in self.pending():
            if ".jsonl" in path.suffixes:
                with open(path, encoding="utf-8") as fh:
                    total += sum(1 for line in fh if line.strip())
            else:
                import pyarrow.parquet as pq

                total += pq.ParquetFile(path).metadata.num_rows
        return total
