"""A child process that records events and exits (normally or by SIGTERM) leaves them on disk."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.dataset as ds

CHILD = textwrap.dedent("""
    import sys, time
    import llamonitor
    from llamonitor import MonitorConfig, StorageConfig, monitor_llm

    out = sys.argv[1]
    llamonitor.initialize_monitoring_sync(MonitorConfig(
        storage=StorageConfig(output_dir=out, batch_size=100_000, max_batch_size=100_000,
                              flush_interval_seconds=3600),
        max_queue_size=1_000_000, spill_dir=out + "_spill"))

    @monitor_llm("child_call")
    def call(i):
        return i

    for i in range(int(sys.argv[2])):
        call(i)
    print("recorded", flush=True)
    if sys.argv[3] == "wait":
        time.sleep(60)
""")


def rows(path: Path) -> int:
    return ds.dataset(str(path), format="parquet").count_rows() if path.exists() else 0


def test_normal_exit_drains_the_queue(tmp_path: Path) -> None:
    out = tmp_path / "data"
    subprocess.run([sys.executable, "-c", CHILD, str(out), "20000", "exit"], check=True, timeout=120)
    assert rows(out) == 20000  # nothing was flushed before exit: atexit wrote all of it


def test_sigterm_drains_the_queue_then_dies_of_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), "20000", "wait"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "recorded"
    time.sleep(0.2)
    assert rows(out) == 0  # still queued: the flush interval is an hour
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM
    assert rows(out) == 20000
