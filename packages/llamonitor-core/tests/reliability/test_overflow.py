"""Producers faster than the sink, with each overflow policy: counters equal what happened, and
memory stays bounded by the queue, not by the number of calls."""

from __future__ import annotations

import asyncio
import threading
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path

import llamonitor
import pytest
from llamonitor import monitor_llm
from llamonitor.backends.registry import register_backend, unregister_backend
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.schema.events import MetricEvent
from llamonitor.testing import InMemoryBackend

THREADS, PER_THREAD = 4, 20_000
TOTAL = THREADS * PER_THREAD
MAX_QUEUE, MAX_BATCH = 1_000, 500
# The bound, from the configuration: a queued record (a 13-item tuple of references, its args
# tuple, a small int) is well under RECORD_BYTES; a built MetricEvent under EVENT_BYTES; at most
# one batch is being built while the previous one is held by the sink; plus a fixed allowance
# for the writer's buffers (Parquet/JSON spill writers, logging).
RECORD_BYTES, EVENT_BYTES, FIXED = 1_500, 4_000, 6 * 1024 * 1024
BOUND = MAX_QUEUE * RECORD_BYTES + 2 * MAX_BATCH * EVENT_BYTES + FIXED


class SlowCountingSink(InMemoryBackend):
    """Slow (``delay`` per write) and keeps only a count, so it does not itself hold memory."""

    name = "slowcount"

    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self.count = 0

    async def write_batch(self, events: Sequence[MetricEvent]) -> None:
        await asyncio.sleep(self.delay)
        self.count += len(events)


@pytest.fixture
def slow_sink() -> Iterator[SlowCountingSink]:
    sink = SlowCountingSink(delay=0.05)  # <= 10,000 events/s with batches of MAX_BATCH
    register_backend("slowcount", lambda cfg: sink)
    yield sink
    unregister_backend("slowcount")


def _produce() -> None:
    @monitor_llm("overflow_producer")
    def call(prompt: str) -> str:
        return prompt

    for i in range(PER_THREAD):
        call(f"prompt {i} " + "x" * 100)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("policy", ["block", "drop_newest", "spill"])
def test_fast_producers_slow_sink_counters_exact_and_memory_bounded(
        policy: str, slow_sink: SlowCountingSink, tmp_path: Path) -> None:
    config = MonitorConfig(storage=StorageConfig(backend="slowcount", batch_size=MAX_BATCH, max_batch_size=MAX_BATCH,
                                                 flush_interval_seconds=0.05),
                           max_queue_size=MAX_QUEUE, overflow_policy=policy,
                           # block: the default timeout; the writer always makes progress here
                           block_timeout_seconds=1.0 if policy == "block" else 0.01,
                           spill_dir=str(tmp_path / "spill"))
    llamonitor.initialize_monitoring_sync(config)

    @monitor_llm("overflow_warm_up")
    def warm_up() -> None:
        return None

    warm_up()  # the writer imports what it needs on its first batch: not part of what is measured
    assert llamonitor.flush_sync(30)
    warmed = slow_sink.count
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        threads = [threading.Thread(target=_produce) for _ in range(THREADS)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        produce_s = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert llamonitor.flush_sync(120)
    health = llamonitor.health()
    sink = health["sinks"]["slowcount"]
    dropped, spilled = health["dropped_overflow"], health["spilled_overflow"]
    print(f"{policy}: {TOTAL} calls in {produce_s:.1f} s, written {sink['written']}, dropped {dropped}, "
          f"spilled {spilled}, blocked {health['blocked_calls']}, peak traced {peak / 1e6:.1f} MB "
          f"(bound {BOUND / 1e6:.1f} MB)")
    assert sink["written"] == slow_sink.count and sink["lost_events"] == 0 and health["build_errors"] == 0
    if policy == "block":
        # Backpressure, not loss: producers waited (the sink is slower) and none was dropped,
        # since the writer kept making progress (issue 16 item 5).
        assert health["blocked_calls"] > 0 and dropped == 0
    else:
        assert dropped + spilled > 0, "producers never outran the sink"
    if policy == "spill":
        assert dropped == 0
        # The writer sends overflow spill to the sink when the queue has room again.
        deadline = time.monotonic() + 60
        while slow_sink.count < TOTAL and time.monotonic() < deadline:
            llamonitor.flush_sync(30)
            time.sleep(0.2)
        assert slow_sink.count - warmed == TOTAL
    else:
        assert spilled == 0
        assert sink["written"] - warmed + dropped == TOTAL  # every call either written or counted as dropped
        if policy == "block":
            assert health["blocked_calls"] >= dropped
    if policy == "spill":
        # Overflow is built and JSON-encoded in the callers' threads, and the writer replays each
        # overflow file as one batch (``MonitoringWriter._housekeeping`` reads a whole file):
        # that file is as large as what overflowed since the queue last had room, so this policy
        # gets a second fixed allowance rather than a bound from max_queue_size alone.
        assert peak < BOUND + FIXED
    else:
        assert peak < BOUND
    # and an unbounded queue would have needed more than the bound for the same calls
    assert TOTAL * 300 > BOUND
