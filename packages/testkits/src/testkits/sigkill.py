"""A child process recording steadily into a slow Parquet sink, SIGKILLed mid-stream.

Shared by ``tests/reliability/test_sigkill.py`` and ``bench/integrity_bounds.py``.
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
