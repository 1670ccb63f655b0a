"""Temporary files of atomic writes: named after their process, removed when that process is gone.

Parquet files and spill files are written to a temporary name and renamed, so a reader never sees
half a file. A process killed in the middle of such a write (SIGKILL, a power cut) leaves its
temporary file behind; the name carries the writer's pid (``<final>.<pid>.tmp``), so the next
writer on the same folder removes the files of processes that no longer run, and never those of
a live writer sharing the folder. Temporary files without a pid (written by llamonitor 0.1) are
removed once they are an hour old.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

LEGACY_MAX_AGE_SECONDS = 3600.0


def tmp_path(final: Path, *, hidden: bool = False) -> Path:
    """The temporary name of ``final`` for this process (``hidden``: with a leading dot)."""
    return final.with_name(f"{'.' if hidden else ''}{final.name}.{os.getpid()}.tmp")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_tmp(root: Path) -> int:
    """Remove ``*.tmp`` files under ``root`` left by processes that are gone; returns how many."""
    if not root.is_dir():
        return 0
    removed = 0
    now = time.time()
    for path in root.rglob("*.tmp"):
        owner = path.name[:-len(".tmp")].rsplit(".", 1)[-1]
        try:
            if owner.isdigit():
                if int(owner) == os.getpid() or pid_alive(int(owner)):
                    continue
            elif now - path.stat().st_mtime < LEGACY_MAX_AGE_SECONDS:
                continue
            path.unlink()
            removed += 1
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed
