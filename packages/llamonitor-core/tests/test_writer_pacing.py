"""The writer lets a burst of calls run, then takes it in large batches (``MonitoringWriter._pace``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import llamonitor
import pyarrow.dataset as ds
import pytest
from llamonitor import MonitorConfig, monitor_llm
from llamonitor.schema.config import StorageConfig
from llamonitor.transport import worker


def _config(tmp_path: Path, queue: int, flush_interval: float = 1.0) -> MonitorConfig:
    return MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path / "out"), batch_size=100,
                                               flush_interval_seconds=flush_interval),
                         max_queue_size=queue, spill_dir=str(tmp_path / "spill"))


def _burst(calls: int) -> None:
    @monitor_llm("burst", measurement="capacity")
    def f(x: int) -> int:
        return x

    for i in range(calls):
        f(i)


def test_a_burst_is_taken_in_a_few_large_batches_once_it_ends(tmp_path: Path) -> None:
    """50,000 calls in a tight loop with ``batch_size=100``: without the wait the writer woke at
    every 100 queued events and wrote ~100-2,000 per batch (over a hundred Parquet files)."""
    llamonitor.initialize_monitoring_sync(_config(tmp_path, 200_000))
    try:
        _burst(50_000)
        assert llamonitor.flush_sync(60)
        health = llamonitor.health()
    finally:
        llamonitor.shutdown_sync(60)
    assert health["processed"] == 50_000
    assert health["batches"] <= 10, health["batches"]
    assert ds.dataset(str(tmp_path / "out"), format="parquet").count_rows() == 50_000


def test_the_wait_ends_when_half_the_queue_is_used(tmp_path: Path) -> None:
    """A queue of 10,000 and a producer that never pauses but is slower than the writer (~50k
    calls/s): the wait ends at 5,000 queued, so no caller ever waits for room under ``block``.
    Waiting out the whole 250 ms instead lets the queue fill within ~200 ms and blocks callers."""
    llamonitor.initialize_monitoring_sync(_config(tmp_path, 10_000))

    @monitor_llm("steady", measurement="capacity")
    def f(x: int) -> int:
        return x

    try:
        for i in range(30_000):
            f(i)
            if i % 10 == 9:
                time.sleep(0.0001)
        assert llamonitor.flush_sync(60)
        health = llamonitor.health()
    finally:
        llamonitor.shutdown_sync(60)
    assert health["processed"] == 30_000
    assert health["blocked_calls"] == 0, health["blocked_calls"]


def test_a_flush_returns_while_producers_outpace_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A producer that never pauses and adds events faster than the writer stores them: a flush
    still returns (before the fix the writer's drain loop never ended while events kept coming,
    and ``flush_sync(60)`` returned ``False`` after 60 s), and no burst wait holds it."""
    monkeypatch.setattr(worker, "PACE_MAX_SECONDS", 30.0, raising=False)
    llamonitor.initialize_monitoring_sync(_config(tmp_path, 5_000_000, flush_interval=30.0))
    stop = threading.Event()

    @monitor_llm("burst", measurement="capacity")
    def f(x: int) -> int:
        return x

    def produce() -> None:
        i = 0
        while not stop.is_set():
            f(i)
            i += 1
            if i % 1000 == 0:
                time.sleep(0.0005)  # keep the queue growing, far below half of it

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        assert llamonitor.flush_sync(60)
        took = time.monotonic() - t0
    finally:
        stop.set()
        producer.join()
        llamonitor.shutdown_sync(60)
    assert took < 30.0, took  # the backlog of a producer faster than the writer; the burst wait is 30 s here
