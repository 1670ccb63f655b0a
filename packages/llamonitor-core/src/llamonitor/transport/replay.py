"""Re-send spilled events to the configured storage backend (``llamonitor replay``).

The worker replays its own spill automatically once a sink recovers (``auto_replay``); this
module is for what is left over: spill of a process that stopped, or of a destination that is
gone. Every spill file -- each sink folder's Parquet batches and the ``_overflow`` JSON-lines
files -- is sent to the one backend built from ``config.storage``, whatever sink spilled it.

Each file is claimed with an atomic rename (so two replays never send the same file), written
as one batch, and deleted only after the backend accepted it. A file that cannot be read or
written is given back and reported; the next run retries it.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamonitor.schema.config import MonitorConfig
from llamonitor.transport.spill import SpillStore

logger = logging.getLogger("llamonitor")


@dataclass(frozen=True)
class ReplayFailure:
    """A spill file that was not replayed (it stays in the spill directory)."""

    path: str
    error: str


@dataclass
class ReplayReport:
    """What one replay did."""

    spill_dir: str
    backend: str
    #: spill files found when the replay started
    files_found: int = 0
    #: files written to the backend and deleted
    files_replayed: int = 0
    events_replayed: int = 0
    #: files another process claimed first
    files_skipped: int = 0
    failures: list[ReplayFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """``True`` when no file failed."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "spill_dir": self.spill_dir, "backend": self.backend, "files_found": self.files_found,
            "files_replayed": self.files_replayed, "events_replayed": self.events_replayed,
            "files_skipped": self.files_skipped,
            "failures": [{"path": f.path, "error": f.error} for f in self.failures],
        }


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


async def replay_spill_async(config: MonitorConfig, spill_dir: str | Path | None = None) -> ReplayReport:
    """Async form of :func:`replay_spill`."""
    root = Path(spill_dir) if spill_dir is not None else config.spill_path
    store = SpillStore(root)
    files = store.pending()
    report = ReplayReport(spill_dir=str(root), backend=config.storage.backend, files_found=len(files))
    if not files:
        return report

    from llamonitor.backends.registry import create_backend

    backend = create_backend(config.storage)
    await backend.initialize()
    try:
        for path in files:
            claimed = store.claim(path)
            if claimed is None:
                report.files_skipped += 1
                continue
            try:
                events = store.read(claimed)
                if events:
                    await backend.write_batch(events)
            except Exception as exc:
                store.release(claimed)
                report.failures.append(ReplayFailure(str(path), _describe(exc)))
                logger.warning("llamonitor: replay of %s failed: %s", path, exc)
                continue
            claimed.unlink(missing_ok=True)
            report.files_replayed += 1
            report.events_replayed += len(events)
    finally:
        await backend.close()
    return report


def replay_spill(config: MonitorConfig, spill_dir: str | Path | None = None) -> ReplayReport:
    """Send every spilled event under ``spill_dir`` (default ``config.spill_dir``) to the backend.

    The backend is created from ``config.storage`` with
    :func:`llamonitor.backends.registry.create_backend`, initialised, given each spill file's
    events as one batch, and closed. A file is deleted only after its batch was written; files
    that fail are left in place and listed in :attr:`ReplayReport.failures`. Raises if the
    backend cannot be created or initialised (nothing is claimed then).

    Works from synchronous code and from inside a running event loop (it then runs on a
    helper thread).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(replay_spill_async(config, spill_dir))
    with ThreadPoolExecutor(1, thread_name_prefix="llamonitor-replay") as pool:
        return pool.submit(asyncio.run, replay_spill_async(config, spill_dir)).result()
