"""SIGKILL mid-stream: only what was in memory is lost, at most ``max_queue_size`` events.

The documented bound covers queued + being built + being written (the writer keeps the records
it took counted against ``max_queue_size`` until they are delivered). A child records events at
a steady rate into Parquet made slow (0.5 s per batch: 2,000 events/s, below the 5,000/s
produced), so the queue and the pipelined batches
are full when the parent SIGKILLs it; the parent compares what is on disk with what was produced.
Before the fix this lost up to 3x ``max_queue_size``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

INTERVAL = 0.2
RATE = 5_000  # events/s
MAX_QUEUE = 1_000
CHILD = textwrap.dedent(f"""
    import asyncio, sys, time
    import llamonitor
    from llamonitor import MonitorConfig, StorageConfig, monitor_llm
    from llamonitor.backends.parquet import ParquetBackend
    from llamonitor.backends.registry import register_backend

    class SlowParquet(ParquetBackend):
        async def write_batch(self, events):
            await asyncio.sleep(0.5)
            await super().write_batch(events)

    register_backend("slowparquet", SlowParquet)
    out = sys.argv[1]
    llamonitor.initialize_monitoring_sync(MonitorConfig(
        storage=StorageConfig(backend="slowparquet", output_dir=out, batch_size=500, max_batch_size={MAX_QUEUE},
                              flush_interval_seconds={INTERVAL}),
        max_queue_size={MAX_QUEUE}, spill_dir=out + "_spill"))

    @monitor_llm("killed_child")
    def call(i):
        return i

    t0 = time.monotonic()
    i = 0
    while True:
        due = int((time.monotonic() - t0) * {RATE})
        while i < due:
            call(i)
            i += 1
            if i % 50 == 0:
                print(i, time.monotonic(), flush=True)
        time.sleep(0.002)
""")


def rows_on_disk(path: Path) -> int:
    # Files appear by atomic rename: every *.parquet present must be complete and readable.
    return sum(pq.ParquetFile(f).metadata.num_rows for f in path.rglob("*.parquet")) if path.exists() else 0


def run_and_kill(out: Path) -> tuple[int, int, list[tuple[int, float]], float]:
    """Run the child, SIGKILL it once its producer is blocked; (produced_max, on_disk, progress, killed_at)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE, text=True)
    progress: list[tuple[int, float]] = []
    seen_at = [time.monotonic()]

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            n, t = line.split()
            progress.append((int(n), float(t)))
            seen_at.append(time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Kill once several slow writes are behind us and the producer is blocked (no output
        # for 0.15 s): the queue and the pipelined batches are as full as they get.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.01)
            assert proc.poll() is None, "child exited early"
            if progress and progress[-1][0] >= 6_000 and time.monotonic() - seen_at[-1] > 0.15:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait(timeout=30)
        reader.join(10)
    assert proc.returncode == -signal.SIGKILL
    produced_max = progress[-1][0] + 49  # up to 49 calls after the last printed count
    return produced_max, rows_on_disk(out), progress, killed_at


def test_sigkill_loses_at_most_max_queue_size(tmp_path: Path) -> None:
    produced_max, on_disk, progress, killed_at = run_and_kill(tmp_path / "data")
    missing = produced_max - on_disk
    window_start = killed_at - INTERVAL - 0.3
    before_window = max((n for n, t in progress if t <= window_start), default=0)
    last_interval = produced_max - before_window
    print(f"SIGKILL: produced <= {produced_max}, on disk {on_disk}, missing <= {missing}; "
          f"produced in the last {INTERVAL + 0.3:.1f} s: {last_interval} (flush interval {INTERVAL} s at {RATE}/s)")
    assert on_disk > 0 and on_disk <= produced_max
    # The documented hard bound, queued + being built + being written (produced_max
    # overestimates by up to 49 unprinted calls). main lost 2,049 here (2x max_queue_size).
    assert missing <= MAX_QUEUE + 49
