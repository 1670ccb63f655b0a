"""Queued records name their spec by index, so Python's cyclic GC stops walking them (records.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from typing import Any

import llamonitor
import pytest
from llamonitor import monitor_llm
from llamonitor.runtime import STATE
from llamonitor.schema.config import MonitorConfig
from llamonitor.testing import InMemoryBackend
from llamonitor.transport import records
from llamonitor.transport.records import SPECS, OperationSpec, spec_of


def _queued(memory_config: MonitorConfig, memory_sink: InMemoryBackend, fn: Any, n: int) -> list[Any]:
    """Call ``fn`` ``n`` times while the writer is held up; the records then in the queue."""
    # The writer takes 10 records at a time and each write takes 0.5 s: the rest stays queued.
    memory_sink.delay = 0.5
    storage = memory_config.storage.model_copy(update={"batch_size": 10, "max_batch_size": 10,
                                                       "flush_interval_seconds": 30})
    llamonitor.initialize_monitoring_sync(memory_config.model_copy(update={"storage": storage,
                                                                           "max_queue_size": 10_000}))
    for i in range(n):
        fn(i)
    rec = STATE.recorder
    assert rec is not None
    gc.collect()
    queued = list(rec.dq)
    memory_sink.delay = 0  # the rest is written at once at shutdown
    return queued


def test_a_decorated_calls_queued_records_are_not_tracked_by_the_gc(memory_config: MonitorConfig,
                                                                    memory_sink: InMemoryBackend) -> None:
    @monitor_llm(operation_name="untracked", custom_attributes={"team": "a"})
    def call(i: int) -> int:
        return i

    queued = _queued(memory_config, memory_sink, call, 2000)
    assert len(queued) > 1000
    assert all(type(r[0]) is int for r in queued)
    assert not any(gc.is_tracked(r) for r in queued)
    assert llamonitor.shutdown_sync(timeout=60)
    assert len(memory_sink.events) == 2000
    assert {e.operation_name for e in memory_sink.events} == {"untracked"}
    assert all(e.custom_attributes == {"team": "a"} for e in memory_sink.events)


def test_past_the_index_bound_records_hold_their_spec_and_still_land(memory_config: MonitorConfig,
                                                                     memory_sink: InMemoryBackend,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_INDEXED_SPECS", len(SPECS))  # the table is full

    @monitor_llm(operation_name="overflowed", model="gpt-4o-mini")
    def call(i: int) -> int:
        return i

    spec = call.__llamonitor_spec__
    assert spec.index is None and spec.ref is spec and spec_of(spec.ref) is spec
    queued = _queued(memory_config, memory_sink, call, 500)
    assert queued and all(r[0] is spec for r in queued)
    assert all(gc.is_tracked(r) for r in queued)  # what every record cost the GC before
    assert llamonitor.shutdown_sync(timeout=60)
    assert [e.model for e in memory_sink.events] == ["gpt-4o-mini"] * 500


def test_only_decorators_take_an_index() -> None:
    before = len(SPECS)
    adapter_spec = OperationSpec("chat gpt-4o", "chat")  # an adapter's / an ingested span's record has a dict anyway
    assert adapter_spec.index is None and len(SPECS) == before
    indexed = OperationSpec("decorated", indexed=True)
    assert indexed.index == before and SPECS[before] is indexed and spec_of(indexed.ref) is indexed


def test_a_fork_while_the_spec_table_is_locked_leaves_the_child_able_to_decorate() -> None:
    script = textwrap.dedent("""
        import os, sys, time
        from llamonitor import monitor_llm
        from llamonitor.transport import records

        records._specs_lock.acquire()  # another thread is decorating a function when the fork happens
        pid = os.fork()
        if pid == 0:
            @monitor_llm(operation_name="in_child")
            def f():
                return 1
            os._exit(0 if f.__llamonitor_spec__.index is not None else 3)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                sys.exit(os.waitstatus_to_exitcode(status))
            time.sleep(0.05)
        os.kill(pid, 9)
        sys.exit(9)  # the child hung on the lock
    """)
    assert subprocess.run([sys.executable, "-c", script], timeout=60).returncode == 0
