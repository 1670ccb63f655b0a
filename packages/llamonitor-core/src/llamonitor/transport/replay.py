"""Re-send spilled events to the configured storage backend (``llamonitor replay``).

The worker replays its own spill automatically once a sink recovers (``auto_replay``); this
module is for what is left over: spill of a process that stopped, or of a destination that is
gone. Every spill file -- each sink folder's Parquet batches and the ``_overflow`` JSON-lines
files -- is sent to the one backend built from ``config.storage``, whatever sink spilled it.

Each file is claimed with an atomic rename (so two replays never send the same file), written
as one batch, and deleted only after the backend accepted it. An event the backend refuses for
its data is isolated (the rest of the file is written) and kept in the dead-letter folder with
its error; a file that cannot be read is moved there too; a file the backend cannot take for
another reason is given back and reported, and the next run retries it. No file stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamonitor.backends.errors import refused_data
from llamonitor.schema.config import MonitorConfig
from llamonitor.transport.isolate import IsolationInterrupted, write_isolating
from llamonitor.transport.spill import SpillStore

logger = logging.getLogger("llamonitor")


@dataclass(frozen=True)
class ReplayFailure:
    """A spill file that was not replayed (it stays in the spill directory, or was quarantined)."""

    path: str
    error: str


@dataclass(frozen=True)
class ReplayedFile:
    """What happened to one spill file."""

    path: str
    #: events the file held (``None`` when it could not be read)
    events: int | None
    #: events written to the backend
    written: int
    #: events the backend refused on their own, kept in the dead-letter folder
    dead_lettered: int
    #: ``replayed`` (file deleted), ``failed`` (left for the next run), ``quarantined`` (unreadable,
    #: moved to the dead-letter folder) or ``skipped`` (another replay took it)
    outcome: str
    error: str | None = None


@dataclass
class ReplayReport:
    """What one replay did."""

    spill_dir: str
    backend: str
    #: where the events went (``postgres table public.metric_events``, ``parquet ./llamonitor_data``)
    destination: str = ""
    #: spill files found when the replay started
    files_found: int = 0
    #: files written to the backend and deleted
    files_replayed: int = 0
    events_replayed: int = 0
    #: events the backend refused even alone (in ``<spill_dir>/_dead_letter/``)
    events_dead_lettered: int = 0
    #: unreadable files moved to ``<spill_dir>/_dead_letter/``
    files_quarantined: int = 0
    #: files another process claimed first
    files_skipped: int = 0
    failures: list[ReplayFailure] = field(default_factory=list)
    files: list[ReplayedFile] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """``True`` when every file was replayed (refused events dead-lettered count as handled)."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "spill_dir": self.spill_dir, "backend": self.backend, "destination": self.destination,
            "files_found": self.files_found, "files_replayed": self.files_replayed,
            "events_replayed": self.events_replayed, "events_dead_lettered": self.events_dead_lettered,
            "files_quarantined": self.files_quarantined, "files_skipped": self.files_skipped,
            "failures": [{"path": f.path, "error": f.error} for f in self.failures],
            "files": [vars(f) for f in self.files],
        }


def _describe(exc: BaseException, dsn: str | None) -> str:
    from llamonitor.backends.dsn import scrub

    return scrub(f"{type(exc).__name__}: {exc}", dsn)[:500]


def destination_of(config: MonitorConfig) -> str:
    """Where a replay with ``config`` writes, in words (the DSN is never shown)."""
    from llamonitor.backends.registry import describe_storage

    return describe_storage(config.storage, dsn=False)


def _replay(config: MonitorConfig, root: Path) -> ReplayReport:
    """The replay, on this thread, with its own event loop for the backend's coroutines."""
    store = SpillStore(root)
    files = store.pending()
    report = ReplayReport(spill_dir=str(root), backend=config.storage.backend,
                          destination=destination_of(config), files_found=len(files))
    if not files:
        return report

    from llamonitor.backends.registry import create_backend

    dsn = config.storage.connection_string
    backend = create_backend(config.storage)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(backend.initialize())

        def write(part: Any) -> None:
            loop.run_until_complete(backend.write_batch(part))

        for path in files:
            report.files.append(_replay_file(store, path, write, backend.name, dsn, report))
    finally:
        try:
            loop.run_until_complete(backend.close())
        finally:
            loop.close()
    return report


def _replay_file(store: SpillStore, path: Path, write: Any, sink: str, dsn: str | None,
                 report: ReplayReport) -> ReplayedFile:
    claimed = store.claim(path)
    if claimed is None:
        report.files_skipped += 1
        return ReplayedFile(str(path), None, 0, 0, "skipped")
    try:
        events = store.read(claimed)
    except Exception as exc:
        error = _describe(exc, dsn)
        moved = store.quarantine(claimed, sink, error)
        report.files_quarantined += 1
        report.failures.append(ReplayFailure(str(path), f"unreadable, moved to {moved}: {error}"))
        logger.warning("llamonitor: spill file %s cannot be read (%s); moved to %s", path, error, moved)
        return ReplayedFile(str(path), None, 0, 0, "quarantined", error)
    dead = 0

    def refused(event: Any, exc: BaseException) -> None:
        nonlocal dead
        store.write_dead_letter(sink, event, _describe(exc, dsn))
        dead += 1

    try:
        if events:
            try:
                write(events)
            except Exception as exc:
                if not refused_data(exc):
                    raise
                # A value the backend refuses: write around it, dead-letter it alone.
                write_isolating(events, write, refused, exc)
    except Exception as exc:
        cause = exc.cause if isinstance(exc, IsolationInterrupted) else exc
        error = _describe(cause, dsn)
        store.release(claimed)
        report.failures.append(ReplayFailure(str(path), error))
        logger.warning("llamonitor: replay of %s failed: %s", path, error)
        return ReplayedFile(str(path), len(events), 0, 0, "failed", error)
    claimed.unlink(missing_ok=True)
    written = len(events) - dead
    report.files_replayed += 1
    report.events_replayed += written
    report.events_dead_lettered += dead
    return ReplayedFile(str(path), len(events), written, dead, "replayed")


async def replay_spill_async(config: MonitorConfig, spill_dir: str | Path | None = None) -> ReplayReport:
    """Async form of :func:`replay_spill` (the replay runs on a helper thread)."""
    root = Path(spill_dir) if spill_dir is not None else config.spill_path
    return await asyncio.to_thread(_replay, config, root)


def replay_spill(config: MonitorConfig, spill_dir: str | Path | None = None) -> ReplayReport:
    """Send every spilled event under ``spill_dir`` (default ``config.spill_dir``) to the backend.

    The backend is created from ``config.storage`` with
    :func:`llamonitor.backends.registry.create_backend`, initialised, given each spill file's
    events as one batch, and closed. A file is deleted only after its events were written; an
    event the backend refuses even alone goes to the dead-letter folder (the rest of its file is
    written); an unreadable file is moved there too; a file that fails for another reason (the
    backend is down) is left in place and listed in :attr:`ReplayReport.failures`. No file stops
    the replay of the others. Raises if the backend cannot be created or initialised.

    Works from synchronous code and from inside a running event loop (it then runs on a
    helper thread).
    """
    root = Path(spill_dir) if spill_dir is not None else config.spill_path
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _replay(config, root)
    with ThreadPoolExecutor(1, thread_name_prefix="llamonitor-replay") as pool:
        return pool.submit(_replay, config, root).result()
