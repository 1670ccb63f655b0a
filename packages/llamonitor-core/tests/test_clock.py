"""Every span of a process lies on one time line, whatever the wall clock does meanwhile (clock.py)."""

from __future__ import annotations

import time

import llamonitor
import pytest
from llamonitor import clock, monitor_llm
from llamonitor.schema.config import MonitorConfig
from llamonitor.testing import InMemoryBackend
from llamonitor.tracing import start_span
from testkits.clock import stepped_wall_clock


@pytest.fixture
def wall_step(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The wall clock (``time.time_ns`` / ``time.time``) runs ahead by what the test puts here."""
    return stepped_wall_clock(monkeypatch)


def test_a_wall_clock_step_inside_a_span_leaves_its_children_inside_it(memory_config: MonitorConfig,
                                                                       memory_sink: InMemoryBackend,
                                                                       wall_step: list[int]) -> None:
    llamonitor.initialize_monitoring_sync(memory_config)

    @monitor_llm(operation_name="inner", operation_type="tool")
    def inner() -> str:
        return "ok"

    outer = start_span("outer", operation_type="agent")
    with outer.activate():
        wall_step[0] = 5_000_000  # NTP steps the wall clock 5 ms ahead
        assert inner() == "ok"
        child = start_span("child", operation_type="tool")
        child.end()
    outer.end()
    assert llamonitor.shutdown_sync(timeout=30)
    events = {e.operation_name: e for e in memory_sink.events}
    parent = events["outer"]
    for name in ("inner", "child"):
        assert parent.start_time_ns <= events[name].start_time_ns
        assert events[name].end_time_ns <= parent.end_time_ns, name


def test_from_wall_puts_a_time_time_stamp_on_the_line(wall_step: list[int]) -> None:
    wall_step[0] = 5_000_000
    stamped = int(time.time() * 1e9)  # a framework's own stamp, taken after the step
    on_line = clock.from_wall(stamped)
    assert abs(on_line - clock.now_ns()) < 2_000_000  # not 5 ms ahead of spans taken now


def test_resync_follows_the_wall_clock_only_past_the_threshold(wall_step: list[int]) -> None:
    wall_step[0] = clock.RESYNC_NS // 2
    assert clock.resync() is False
    assert abs(clock.now_ns() - time.time_ns()) > clock.RESYNC_NS // 4
    wall_step[0] = 3_600 * 10**9  # an hour asleep: the monotonic clock stood still
    assert clock.resync() is True
    assert abs(clock.now_ns() - time.time_ns()) < 2_000_000
    assert clock.resync() is False


def test_the_line_stays_within_the_threshold_of_the_wall_clock() -> None:
    # measured once at import and resynced past RESYNC_NS: never further than that (plus reading time)
    assert abs(clock.now_ns() - time.time_ns()) < clock.RESYNC_NS + 5_000_000
