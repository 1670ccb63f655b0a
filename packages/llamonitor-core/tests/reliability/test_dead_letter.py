"""A batch a sink refuses for one value: the rest is written, the refused event dead-lettered alone.

Driven through the real writer with the in-memory backend of ``llamonitor.testing`` refusing
chosen events (as a database refuses a batch holding one value it cannot store); the same on
real servers is in ``tests/storage/test_poison.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import monitor_llm
from llamonitor.backends.registry import register_backend, unregister_backend
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.testing import InMemoryBackend
from llamonitor.transport.spill import SpillStore


@pytest.fixture
def refusing_sink() -> Any:
    sink = InMemoryBackend(refuse=lambda e: bool(e.custom_attributes.get("poison")))
    register_backend("memory", lambda cfg: sink)
    yield sink
    unregister_backend("memory")


def _config(tmp_path: Path, **extra: Any) -> MonitorConfig:
    return MonitorConfig(storage=StorageConfig(backend="memory", batch_size=1000, max_batch_size=1000,
                                               flush_interval_seconds=0.05),
                         spill_dir=str(tmp_path / "spill"), retry_backoff_seconds=0.01, max_retries=3,
                         circuit_open_seconds=0.05, **extra)


def _calls(n: int, poisoned: set[int]) -> None:
    plain = monitor_llm("call")(lambda: "ok")
    bad = monitor_llm("call", custom_attributes={"poison": True})(lambda: "ok")
    for i in range(n):
        (bad if i in poisoned else plain)()


def _sink_when(check: Any, timeout: float = 15.0) -> dict[str, Any]:
    """The sink's health once ``check(health)`` holds (the writer probes a failed sink on its own)."""
    deadline = time.monotonic() + timeout
    while True:
        llamonitor.flush_sync(10)
        health: dict[str, Any] = llamonitor.health()["sinks"]["memory"]
        if check(health) or time.monotonic() > deadline:
            return health
        time.sleep(0.05)


def _dead_letters(spill: Path) -> list[dict[str, Any]]:
    lines = []
    for path in SpillStore(spill).dead_letters():
        lines += [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]
    return lines


def test_refused_events_are_isolated_and_dead_lettered_the_rest_written(tmp_path: Path,
                                                                      refusing_sink: InMemoryBackend) -> None:
    llamonitor.initialize_monitoring_sync(_config(tmp_path))
    _calls(1000, poisoned={3, 500, 999})
    assert llamonitor.flush_sync(30)
    sink = llamonitor.health()["sinks"]["memory"]
    assert sink["written"] == 997 and sink["dead_lettered"] == 3
    assert sink["lost_events"] == sink["spilled_events"] == 0 and not sink["degraded"]
    assert len(refusing_sink.events) == 997 and len(set(refusing_sink.ids())) == 997
    # a refused batch is not retried whole: isolation costs about 2 k log2(n) writes, not max_retries each
    assert refusing_sink.attempts < 3 * 2 * 11
    dead = _dead_letters(tmp_path / "spill")
    assert len(dead) == 3
    assert {d["sink"] for d in dead} == {"memory"}
    assert all("refused" in d["error"] and d["event"]["custom_attributes"] == {"poison": True} for d in dead)
    assert SpillStore(tmp_path / "spill").pending() == []  # dead letters are never replayed


def test_spilled_batches_with_a_refused_event_replay_around_it(tmp_path: Path, refusing_sink: InMemoryBackend) -> None:
    refusing_sink.fail_forever = True
    llamonitor.initialize_monitoring_sync(_config(tmp_path))
    for batch in range(3):  # three spilled batches; the middle one holds a refused event
        _calls(100, poisoned={50} if batch == 1 else set())
        assert llamonitor.flush_sync(30)
    health = llamonitor.health()["sinks"]["memory"]
    assert health["spilled_events"] == 300 and health["written"] == 0
    assert len(SpillStore(tmp_path / "spill").pending("memory")) >= 3
    refusing_sink.fail_forever = False  # the sink comes back; the next write triggers replay
    _calls(10, poisoned=set())
    health = _sink_when(lambda h: not h["degraded"] and not SpillStore(tmp_path / "spill").pending())
    assert health["dead_lettered"] == 1 and health["lost_events"] == 0
    assert len(refusing_sink.events) == 309 and len(set(refusing_sink.ids())) == 309
    assert SpillStore(tmp_path / "spill").pending() == []


def test_an_unreadable_spill_file_is_quarantined_and_replay_goes_on(tmp_path: Path,
                                                                   refusing_sink: InMemoryBackend) -> None:
    refusing_sink.fail_forever = True
    llamonitor.initialize_monitoring_sync(_config(tmp_path))
    _calls(40, poisoned=set())
    assert llamonitor.flush_sync(30)
    llamonitor.shutdown_sync(30)
    folder = tmp_path / "spill" / "memory"
    good = sorted(folder.glob("*.parquet"))
    assert good
    (folder / "batch_0_1_1.parquet").write_bytes(b"not a parquet file")  # sorts first
    refusing_sink.fail_forever = False
    llamonitor.initialize_monitoring_sync(_config(tmp_path))  # start-up replay
    assert llamonitor.flush_sync(30)
    health = llamonitor.health()["sinks"]["memory"]
    assert health["replayed_events"] == 40 and health["quarantined_files"] == 1
    assert len(refusing_sink.events) == 40
    moved = list((tmp_path / "spill" / "_dead_letter" / "memory").glob("unreadable_*"))
    assert sorted(p.name for p in moved) == ["unreadable_batch_0_1_1.parquet",
                                             "unreadable_batch_0_1_1.parquet.error.txt"]


def test_a_refused_event_while_the_sink_fails_is_spilled_not_lost(tmp_path: Path,
                                                                  refusing_sink: InMemoryBackend) -> None:
    """The sink dies in the middle of isolating: what was not written is spilled, then replayed."""
    original = refusing_sink.write_batch
    calls = {"n": 0}

    async def dying(events: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the whole batch, its first half: then the server goes away
            refusing_sink.fail_forever = True
        await original(events)

    refusing_sink.write_batch = dying  # type: ignore[method-assign]
    llamonitor.initialize_monitoring_sync(_config(tmp_path))
    _calls(100, poisoned={10})
    assert llamonitor.flush_sync(30)
    health = llamonitor.health()["sinks"]["memory"]
    assert health["lost_events"] == 0 and health["degraded"]
    assert health["written"] + health["spilled_events"] + health["dead_lettered"] == 100
    refusing_sink.fail_forever = False
    _calls(1, poisoned=set())
    health = _sink_when(lambda h: not h["degraded"] and not SpillStore(tmp_path / "spill").pending())
    assert len({e.event_id for e in refusing_sink.events}) == 100  # 99 innocent + 1 new
    assert health["dead_lettered"] == 1 and health["lost_events"] == 0
