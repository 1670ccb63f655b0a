"""The process's one time line for event timestamps: Unix nanoseconds read off the monotonic clock.

An event's start is an instant (Unix time) and its duration is measured on the monotonic clock.
Reading the wall clock and the monotonic clock separately for every span let a thread switch (a
GIL hand-over can take the 5 ms switch interval) or a wall-clock step fall between the two reads,
and a child could then appear to end after its parent. Here the offset between the two clocks is
measured once, so a timestamp costs one monotonic read (:func:`now_ns`) and every span of the
process lies on one line. The writer calls :func:`resync` now and then: when the wall clock has
moved away from that line by more than :data:`RESYNC_NS` (an NTP step, a laptop resumed from
sleep, during which the monotonic clock stood still), the line follows it again.

Timestamps a framework took with ``time.time()`` go through :func:`from_wall` onto the same line.
"""

from __future__ import annotations

import time

__all__ = ["OFFSET", "RESYNC_NS", "from_wall", "now_ns", "resync"]

_perf = time.perf_counter_ns

#: How far the wall clock may drift from the line before :func:`resync` moves the line. Below
#: this, spans stay consistent with each other; above it, with the wall clock.
RESYNC_NS = 10_000_000


def _measure() -> int:
    """Unix ns minus ``perf_counter_ns`` now, from the tightest of a few bracketed reads (so a
    thread switch between two reads is not taken for a clock step)."""
    best_gap, offset = -1, 0
    for _ in range(5):
        a = _perf()
        wall = time.time_ns()
        b = _perf()
        if best_gap < 0 or b - a < best_gap:
            best_gap, offset = b - a, wall - (a + b) // 2
    return offset


#: Unix ns minus ``time.perf_counter_ns()``: ``_perf() + OFFSET`` is now on the line.
OFFSET = _measure()


def now_ns() -> int:
    """Now, in Unix nanoseconds on the process's time line."""
    return _perf() + OFFSET


def from_wall(wall_ns: int) -> int:
    """A Unix-nanosecond instant taken off the wall clock (``time.time()``), put on the line."""
    return wall_ns - _measure() + OFFSET


def resync(threshold_ns: int = RESYNC_NS) -> bool:
    """Move the line to the wall clock if they are more than ``threshold_ns`` apart; ``True`` if moved."""
    global OFFSET
    offset = _measure()
    if abs(offset - OFFSET) <= threshold_ns:
        return False
    OFFSET = offset
    return True
