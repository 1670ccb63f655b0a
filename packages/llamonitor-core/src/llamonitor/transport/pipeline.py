"""A one-thread job runner: the writer builds batch N+1 here while it delivers batch N.

Delivery mostly waits (on a database socket, on a file write) with the GIL released, so
building the next batch meanwhile costs the writer nothing. Not a ``ThreadPoolExecutor``: that
refuses new work once the interpreter starts shutting down, which is exactly when the writer's
exit handler drains the queue. If the thread cannot run (it could not be started), jobs run
inline in the caller, so a batch is never stuck.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Job(Generic[T]):
    """One submitted call; :meth:`result` waits for it and returns its value or raises its error."""

    __slots__ = ("_args", "_done", "_error", "_fn", "_value")

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self._fn = fn
        self._args = args
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        """Run the call now (in whichever thread calls this)."""
        try:
            self._value = self._fn(*self._args)
        except BaseException as exc:  # handed to the waiter, which re-raises it
            self._error = exc
        finally:
            self._args = ()
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds; whether the call has finished."""
        return self._done.wait(timeout)

    def result(self) -> T:
        """Wait for the call; its return value (or its exception, re-raised)."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class JobThread:
    """Runs submitted jobs one at a time, in order, on one daemon thread started on first use."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._inline = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Job[T]:
        """Queue ``fn(*args)``; returns its :class:`Job`."""
        job: Job[T] = Job(fn, args)
        if not self._inline and self._thread is None:
            try:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            except RuntimeError:  # no new threads (the interpreter is shutting down)
                self._thread = None
                self._inline = True
        if self._inline:
            job.run()
        else:
            self._jobs.put(job)
        return job

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job.run()
            # Not kept while waiting for the next one: the job holds its result (a whole batch).
            del job

    def close(self) -> None:
        """Let the thread finish the queued jobs and exit."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(5)
            self._thread = None
