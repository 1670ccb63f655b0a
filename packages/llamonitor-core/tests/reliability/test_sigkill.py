"""SIGKILL mid-stream: only what was in memory is lost, at most ``max_queue_size`` events.

The documented bound covers queued + being built + being written (the writer keeps the records
it took counted against ``max_queue_size`` until they are delivered). A child records events at
a steady rate into Parquet made slow (0.5 s per batch: 2,000 events/s, below the 5,000/s
produced), so the queue and the pipelined batches
are full when the parent SIGKILLs it; the parent compares what is on disk with what was produced.
Before the fix this lost up to 3x ``max_queue_size``.
"""

from __future__ import annotations

from pathlib import Path

from testkits.sigkill import INTERVAL, MAX_QUEUE, RATE, run_and_kill


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
