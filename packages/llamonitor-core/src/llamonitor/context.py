"""Session / trace / span / agent context, carried with :mod:`contextvars`.

One context variable holds a small tuple ``(session_id, trace, span, agent, anchor)`` so the
hot path does one ``get`` and one ``set``/``reset`` per call. ``trace`` is a user string (from
:func:`monitoring_trace`) or an ``int`` (:mod:`llamonitor.ids`, or the trace id of an
OpenTelemetry span joined) formatted later; ``anchor`` is the OpenTelemetry span that was
current when the context was set (:mod:`llamonitor.otel_context`), ``None`` without one.

Context follows ``await`` and ``asyncio`` tasks by itself. Threads and executors do not copy
it: use :func:`wrap_with_context` / :func:`run_in_executor_with_context` when handing work to
a pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from types import TracebackType
from typing import Any, TypeVar

from llamonitor import ids, otel_context
from llamonitor.schema.events import AgentIdentity

T = TypeVar("T")

#: (session_id or None, trace (str | int) or None, parent span (int id, or an adapter's string id) or None,
#: agent or None, anchor: id of the OpenTelemetry span current when this was set, or None)
Ctx = tuple[str | None, "str | int | None", "str | int | None", "AgentIdentity | None", "int | None"]
_EMPTY: Ctx = (None, None, None, None, None)
_current: contextvars.ContextVar[Ctx] = contextvars.ContextVar("llamonitor_ctx", default=_EMPTY)


class _ContextScope:
    """Sets a context value on enter and restores the previous one on exit (sync or async)."""

    __slots__ = ("_token", "_value", "label")

    def __init__(self, value: Ctx, label: str | None) -> None:
        self._value = value
        self._token: contextvars.Token[Ctx] | None = None
        self.label = label

    def __enter__(self) -> str | None:
        self._token = _current.set(self._value)
        return self.label

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:
                # Exited in another context (e.g. a different task): restore by value instead.
                _current.set(_EMPTY)
            self._token = None

    async def __aenter__(self) -> str | None:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


def monitoring_session(session_id: str | None = None) -> _ContextScope:
    """Group everything inside into one session (a user, a conversation, a job).

    ``with monitoring_session("user-123"): ...`` or ``async with``. Without an id, a random one
    is made; the ``as`` target receives it. A new session starts a new trace scope.
    """
    sid = str(session_id) if session_id is not None else ids.trace_hex(ids.next_trace())
    _, _, _, agent, anchor = _current.get()
    # The anchor stays: a llamonitor span around is not joined again, an application's
    # OpenTelemetry span (a web request's) still is.
    return _ContextScope((sid, None, None, agent, anchor), sid)


def monitoring_trace(trace_id: str | None = None) -> _ContextScope:
    """Group the operations inside into one trace (one request / conversation turn).

    Without an id, the trace is new -- or, inside an application's OpenTelemetry span, that
    span's trace (the operations inside become its children). The ``as`` target receives the id.
    """
    session, _, _, agent, anchor = _current.get()
    if trace_id is not None:
        tid = str(trace_id)
        return _ContextScope((session, tid, None, agent, otel_context.current_anchor()), tid)
    trace: int | str | None = None
    parent: int | str | None = None
    if otel_context.is_active():
        trace, parent, cur, joined = otel_context.join(None, None, anchor)
        anchor = cur[1] if cur is not None else None
        if not joined:
            parent = None
    trace = trace if trace is not None else ids.next_trace()
    label = ids.trace_hex(trace) if isinstance(trace, int) else trace
    return _ContextScope((session, trace, parent, agent, anchor), label)


def monitoring_agent(name: str, *, role: str | None = None, agent_id: str | None = None,
                     framework: str | None = None, task: str | None = None) -> _ContextScope:
    """Attribute every event inside to an agent (its true identity, not a guess)."""
    session, trace, span, _, anchor = _current.get()
    agent = AgentIdentity(framework=framework, agent_id=agent_id, agent_name=name, agent_role=role, task=task)
    return _ContextScope((session, trace, span, agent, anchor), name)


def get_current_session_id() -> str | None:
    """The session id in effect, or ``None`` outside any session."""
    return _current.get()[0]


def get_current_trace_id() -> str | None:
    """The trace id in effect (hex for generated ids), or ``None``."""
    trace = _current.get()[1]
    if isinstance(trace, int):
        return ids.trace_hex(trace)
    return trace


def get_current_span_id() -> str | None:
    """The id of the innermost active span, or ``None``."""
    span = _current.get()[2]
    if span is None or isinstance(span, str):
        return span  # adapters may use their framework's own ids (run ids, event ids)
    return ids.span_hex(span)


def get_current_agent() -> AgentIdentity | None:
    """The agent identity in effect, if an adapter or :func:`monitoring_agent` set one."""
    return _current.get()[3]


def wrap_with_context(fn: Callable[..., T]) -> Callable[..., T]:
    """Return ``fn`` bound to a copy of the current context, for threads and pools."""
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        return ctx.run(fn, *args, **kwargs)

    return run


def run_in_executor_with_context(executor: Executor | None, fn: Callable[..., T],
                                 *args: Any) -> asyncio.Future[T]:
    """``loop.run_in_executor`` that carries the llamonitor context into the pool thread."""
    loop = asyncio.get_running_loop()
    return loop.run_in_executor(executor, wrap_with_context(fn), *args)
