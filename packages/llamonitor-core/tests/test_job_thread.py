"""The writer's build thread: jobs run in order, off the caller's thread, errors reach the waiter."""

from __future__ import annotations

import threading

import pytest
from llamonitor.transport.pipeline import JobThread


def test_jobs_run_in_order_on_their_own_thread() -> None:
    runner = JobThread("test-build")
    seen: list[tuple[int, str]] = []

    def job(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        return i * i

    jobs = [runner.submit(job, i) for i in range(50)]
    assert [j.result() for j in jobs] == [i * i for i in range(50)]
    assert [i for i, _ in seen] == list(range(50)) and {name for _, name in seen} == {"test-build"}
    runner.close()
    assert not any(t.name == "test-build" for t in threading.enumerate())


def test_an_error_is_raised_to_the_waiter_and_the_thread_goes_on() -> None:
    runner = JobThread("test-build-errors")

    def boom() -> None:
        raise KeyError("broken batch")

    failed = runner.submit(boom)
    with pytest.raises(KeyError, match="broken batch"):
        failed.result()
    assert runner.submit(lambda: "next").result() == "next"
    runner.close()


def test_jobs_run_inline_when_no_thread_can_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    runner = JobThread("test-build-inline")
    job = runner.submit(lambda: threading.current_thread().name)
    assert job.result() == threading.current_thread().name
