"""The event pipeline end to end: decorator -> recorder -> worker -> sinks, with faults."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import llamonitor
import pyarrow.dataset as ds
import pytest
from llamonitor import monitor_llm, monitoring_session, monitoring_trace
from llamonitor.backends.registry import register_backend, unregister_backend
from llamonitor.schema.config import MonitorConfig
from llamonitor.testing import InMemoryBackend
from llamonitor.transport.spill import SpillStore
from llamonitor.transport.worker import MonitoringWriter


def test_events_land_in_parquet_with_parent_links(make_config, tmp_path: Path) -> None:
    @monitor_llm("orchestrator", operation_type="agent_workflow")
    async def run(q: str) -> str:
        return await child(q)

    @monitor_llm("classify_intent")
    async def child(q: str) -> str:
        return q.upper()

    async def main() -> None:
        await llamonitor.initialize_monitoring(make_config(tmp_path))
        with monitoring_session("user-123"), monitoring_trace("conversation-1"):
            assert await run("hi") == "HI"
        await llamonitor.shutdown_monitoring()

    asyncio.run(main())
    files = list((tmp_path / "data").glob("*/events_*.parquet"))
    assert len(files) == 1 and files[0].parent.name == time.strftime("%Y-%m-%d", time.gmtime())
    rows = {r["operation_name"]: r for r in ds.dataset(str(tmp_path / "data")).to_table().to_pylist()}
    assert rows["classify_intent"]["parent_span_id"] == rows["orchestrator"]["span_id"]
    assert rows["orchestrator"]["parent_span_id"] is None
    assert {r["session_id"] for r in rows.values()} == {"user-123"}
    assert {r["trace_id"] for r in rows.values()} == {"conversation-1"}
    assert rows["orchestrator"]["operation_type"] == "agent_workflow"
    assert rows["orchestrator"]["duration_ms"] >= rows["classify_intent"]["duration_ms"]


def test_10000_events_from_8_threads_and_2_loops_land_exactly_once(memory_config, memory_sink: InMemoryBackend) -> None:
    llamonitor.initialize_monitoring_sync(memory_config.model_copy(update={"max_queue_size": 2000}))

    @monitor_llm("threaded")
    def sync_call(i: int) -> int:
        return i

    @monitor_llm("looped")
    async def async_call(i: int) -> int:
        await asyncio.sleep(0)
        return i

    def thread_body() -> None:
        for i in range(1000):
            sync_call(i)

    def loop_body() -> None:
        async def many() -> None:
            await asyncio.gather(*(async_call(i) for i in range(1000)))
        asyncio.run(many())

    threads = [threading.Thread(target=thread_body) for _ in range(8)]
    threads += [threading.Thread(target=loop_body) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert llamonitor.flush_sync(30)
    ids = memory_sink.ids()
    assert len(ids) == 10_000
    assert len(set(ids)) == 10_000
    names = [e.operation_name for e in memory_sink.events]
    assert names.count("threaded") == 8000 and names.count("looped") == 2000
    health = llamonitor.health()
    assert health["dropped_overflow"] == 0 and health["sinks"]["memory"]["written"] == 10_000


def test_shutdown_with_5000_queued_loses_none(memory_config, memory_sink: InMemoryBackend) -> None:
    memory_sink.delay = 0.05  # a slow sink: the queue fills up behind it
    cfg = memory_config.model_copy(update={"max_queue_size": 10_000})
    cfg.storage.batch_size = 500
    cfg.storage.max_batch_size = 500
    llamonitor.initialize_monitoring_sync(cfg)

    @monitor_llm("burst")
    def call(i: int) -> int:
        return i

    for i in range(5000):
        call(i)
    assert llamonitor.health()["queue_size"] > 1000  # genuinely queued when shutdown starts
    assert llamonitor.shutdown_sync(timeout=60)
    assert len(memory_sink.events) == 5000 and len(set(memory_sink.ids())) == 5000
    assert memory_sink.closed


def test_sink_failing_three_times_then_recovering_loses_none(memory_config, memory_sink: InMemoryBackend) -> None:
    memory_sink.fail_times = 3
    llamonitor.initialize_monitoring_sync(memory_config.model_copy(update={"max_retries": 4}))

    @monitor_llm("flaky")
    def call(i: int) -> int:
        return i

    for i in range(50):
        call(i)
    assert llamonitor.flush_sync(30)
    health = llamonitor.health()["sinks"]["memory"]
    assert len(memory_sink.events) == 50
    assert health["failed_attempts"] == 3 and health["spilled_events"] == 0 and health["lost_events"] == 0


def test_sink_failing_for_good_spills_and_replay_lands_all(make_config, tmp_path: Path) -> None:
    sink = InMemoryBackend(fail_forever=True)
    register_backend("dead", lambda cfg: sink)
    try:
        cfg = make_config(tmp_path, storage={"backend": "dead"}, max_retries=2, circuit_open_seconds=60)
        llamonitor.initialize_monitoring_sync(cfg)

        @monitor_llm("doomed")
        def call(i: int) -> int:
            return i

        for i in range(300):
            call(i)
        assert llamonitor.shutdown_sync(30)
        store = SpillStore(tmp_path / "spill")
        assert store.count_events() == 300
        assert sink.events == []

        # The sink comes back: a new writer replays every spilled batch exactly once at start.
        sink.fail_forever = False
        llamonitor.initialize_monitoring_sync(cfg)
        assert llamonitor.flush_sync(20)
        assert store.pending() == []
        assert llamonitor.health()["sinks"]["memory"]["replayed_events"] == 300
        assert len(sink.events) == 300 and len(set(sink.ids())) == 300
    finally:
        unregister_backend("dead")


def test_auto_replay_after_outage_within_one_writer(memory_config, memory_sink: InMemoryBackend) -> None:
    memory_sink.fail_forever = True
    llamonitor.initialize_monitoring_sync(memory_config.model_copy(update={"max_retries": 1}))

    @monitor_llm("outage")
    def call(i: int) -> int:
        return i

    for i in range(100):
        call(i)
    assert llamonitor.flush_sync(30)
    assert llamonitor.health()["sinks"]["memory"]["spilled_events"] == 100
    memory_sink.fail_forever = False
    for i in range(100, 120):
        call(i)
    deadline = time.monotonic() + 20
    while len(memory_sink.events) < 120 and time.monotonic() < deadline:
        llamonitor.flush_sync(5)
        time.sleep(0.05)
    assert sorted(set(memory_sink.ids())) == sorted(memory_sink.ids())
    assert len(memory_sink.events) == 120
    sink_health = llamonitor.health()["sinks"]["memory"]
    # Events recorded while the circuit was open were spilled too; all came back once.
    assert sink_health["replayed_events"] >= 100
    assert sink_health["replayed_events"] + sink_health["written"] == 120


def start_stalled_writer(cfg: MonitorConfig) -> MonitoringWriter:
    """Initialise monitoring, then stop its worker thread so nothing drains the queue."""
    llamonitor.initialize_monitoring_sync(cfg)
    writer = llamonitor.get_writer()
    assert writer is not None and writer._thread is not None
    writer._stopping = True
    writer.recorder.wake.set()
    writer._thread.join(5)
    return writer


def record_overflow_calls(n: int) -> None:
    @monitor_llm("overflow")
    def call(i: int) -> int:
        return i

    for i in range(n):
        assert call(i) == i


@pytest.mark.parametrize("policy", ["drop_newest", "block"])
def test_overflow_is_counted(memory_config, memory_sink: InMemoryBackend, policy: str) -> None:
    cfg = memory_config.model_copy(update={"max_queue_size": 10, "overflow_policy": policy,
                                           "block_timeout_seconds": 0.05})
    writer = start_stalled_writer(cfg)
    record_overflow_calls(25)
    health = writer.health()
    assert health["queue_size"] == 10
    assert health["dropped_overflow"] == 15


def test_spill_overflow_policy_writes_every_event_to_disk_then_replays(memory_config, memory_sink: InMemoryBackend,
                                                                       tmp_path: Path) -> None:
    cfg = memory_config.model_copy(update={"max_queue_size": 10, "overflow_policy": "spill"})
    writer = start_stalled_writer(cfg)
    record_overflow_calls(25)
    assert writer.health()["spilled_overflow"] == 15
    store = SpillStore(tmp_path / "spill")
    assert store.count_events() == 15
    # A new writer (same spill dir) replays the overflow to its sinks.
    llamonitor.initialize_monitoring_sync(cfg.model_copy(update={"max_queue_size": 1000}))
    new = llamonitor.get_writer()
    assert new is not None
    assert llamonitor.flush_sync(10)
    assert store.pending() == []
    # 15 overflowed + 10 that were still queued when the stalled writer was replaced.
    ids = [e.event_id for e in memory_sink.events if e.operation_name == "overflow"]
    assert len(ids) == 25 == len(set(ids))


def test_reinitialise_after_shutdown_records_again(make_config, tmp_path: Path, memory_sink: InMemoryBackend) -> None:
    @monitor_llm("again")
    def call() -> int:
        return 1

    for round_ in range(3):
        llamonitor.initialize_monitoring_sync(make_config(tmp_path, storage={"backend": "memory"}))
        call()
        assert llamonitor.shutdown_sync(10)
        assert len(memory_sink.events) == round_ + 1
    call()  # after shutdown: runs, records nothing, does not raise
    assert len(memory_sink.events) == 3
    assert llamonitor.health()["uninitialized_calls"] >= 1


def test_flush_from_async_code_does_not_block_the_loop(memory_config, memory_sink: InMemoryBackend) -> None:
    @monitor_llm("async_flush")
    async def call() -> int:
        return 1

    async def main() -> int:
        await llamonitor.initialize_monitoring(memory_config)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        await call()
        assert await llamonitor.flush_monitoring(10)
        task.cancel()
        await llamonitor.shutdown_monitoring()
        return ticks

    assert asyncio.run(main()) >= 1
    assert len(memory_sink.events) == 1


def test_initialise_with_unusable_output_dir_fails_clearly(make_config, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    cfg = make_config(tmp_path, storage={"output_dir": str(blocker / "sub")})
    with pytest.raises(OSError, match="output_dir"):
        llamonitor.initialize_monitoring_sync(cfg)
    assert not llamonitor.is_initialized()


def test_files_claimed_by_a_dead_replayer_are_recovered(tmp_path: Path) -> None:
    import subprocess
    import sys

    from llamonitor import MetricEvent

    store = SpillStore(tmp_path / "spill")
    event = MetricEvent(event_id="e", session_id="s", trace_id="t", span_id="x", operation_name="op",
                        start_time_ns=1, end_time_ns=2, duration_ms=0.0)
    path = store.write_batch("parquet", [event])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    path.rename(path.with_name(f"{path.name}.claimed-{int(dead.stdout)}"))
    assert store.pending("parquet") == [path]  # released back: replayable again
    mine = store.claim(path)
    assert mine is not None and store.pending("parquet") == []  # a live claim is respected


def test_overflow_counters_are_exact_with_many_producers(memory_config, memory_sink: InMemoryBackend) -> None:
    cfg = memory_config.model_copy(update={"max_queue_size": 100, "overflow_policy": "drop_newest"})
    writer = start_stalled_writer(cfg)
    threads = [threading.Thread(target=record_overflow_calls, args=(2000,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    health = writer.health()
    # Every call is either queued or counted as dropped: 8 x 2000 in all.
    assert health["queue_size"] + health["dropped_overflow"] == 16_000


def test_sink_errors_never_leak_credentials(make_config, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class LeakyBackend(InMemoryBackend):
        async def write_batch(self, events):  # type: ignore[no-untyped-def]
            raise ConnectionError("could not connect to postgresql://app:s3cr3t-pw@db.internal:5432/prod")

    sink = LeakyBackend()
    register_backend("leaky", lambda cfg: sink)
    try:
        cfg = make_config(tmp_path, storage={"backend": "leaky",
                                             "connection_string": "postgresql://app:s3cr3t-pw@db.internal:5432/prod"},
                          max_retries=1)
        llamonitor.initialize_monitoring_sync(cfg)

        @monitor_llm("leak")
        def call() -> int:
            return 1

        call()
        assert llamonitor.flush_sync(10)
        health = llamonitor.health()
        assert "s3cr3t-pw" not in str(health) and "app:***@" in health["sinks"]["memory"]["last_error"]
        assert "s3cr3t-pw" not in caplog.text
    finally:
        unregister_backend("leaky")
