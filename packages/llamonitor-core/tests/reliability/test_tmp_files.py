"""Temporary files of a killed writer are removed at the next start; a live writer's never are."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import llamonitor
from llamonitor import MonitorConfig, StorageConfig, monitor_llm


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_tmp_files_of_killed_writers_are_removed_at_start(tmp_path: Path) -> None:
    data, spill = tmp_path / "data", tmp_path / "spill"
    day, sink = data / "2026-01-02", spill / "parquet"
    day.mkdir(parents=True)
    sink.mkdir(parents=True)
    gone = dead_pid()
    stale = [day / f".events_a.parquet.{gone}.tmp", sink / f"batch_1_{gone}_1.parquet.{gone}.tmp"]
    old_legacy = day / ".events_b.parquet.tmp"  # written by 0.1 (no pid), two hours ago
    live = [day / f".events_c.parquet.{os.getppid()}.tmp", sink / f"batch_2_x_2.parquet.{os.getppid()}.tmp"]
    fresh_legacy = day / ".events_d.parquet.tmp"
    for path in (*stale, old_legacy, *live, fresh_legacy):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old_legacy, (two_hours_ago, two_hours_ago))

    llamonitor.initialize_monitoring_sync(MonitorConfig(
        storage=StorageConfig(output_dir=str(data), flush_interval_seconds=0.05), spill_dir=str(spill)))
    monitor_llm("after_restart")(lambda: None)()
    assert llamonitor.flush_sync(10)
    llamonitor.shutdown_sync(10)

    assert not any(p.exists() for p in (*stale, old_legacy))
    assert all(p.exists() for p in (*live, fresh_legacy))  # a live writer's (the parent's pid), a fresh one
    assert sorted(p.name for p in data.rglob("*.tmp")) == sorted(p.name for p in (live[0], fresh_legacy))
    assert len(list(data.rglob("events_*.parquet"))) == 1  # the new event, written normally
