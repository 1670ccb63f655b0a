"""A wall clock the test steps: ``time.time_ns`` / ``time.time`` run ahead by what the test puts in
the returned list, while llamonitor's time line (``llamonitor.clock``) starts on the real wall clock."""

from __future__ import annotations

import time

import pytest
from llamonitor import clock


def stepped_wall_clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch the wall clock to run ahead by ``step[0]`` ns (0 at first) and return ``step``.

    The line is put on the wall clock first (``clock.resync(0)``; ``OFFSET`` is restored after the
    test), so a step the test makes below ``clock.RESYNC_NS`` stays below the writer's resync
    threshold whatever the real clock did since import.
    """
    step = [0]
    real_ns, real = time.time_ns, time.time
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + step[0])
    monkeypatch.setattr(time, "time", lambda: real() + step[0] / 1e9)
    monkeypatch.setattr(clock, "OFFSET", clock.OFFSET)
    clock.resync(0)
    return step
