"""``@monitor_llm``: record every call of a function as one event.

Works on plain functions, coroutines, generators and async generators (a stream's span ends
when the stream does, including when the consumer abandons it), methods, classmethods and
staticmethods. The wrapper only reads clocks, takes ids, sets the context and enqueues a
tuple holding references; measuring, tokenising and pricing happen in the worker thread.
The user's result is returned as is, their exception propagates unchanged.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, TypeVar, overload

from llamonitor import clock as _clock
from llamonitor import ids
from llamonitor.context import _current
from llamonitor.instrumentation.base import CollectorRegistry
from llamonitor.measurement.config import MeasurementConfig
from llamonitor.otel_context import BRIDGE as _BRIDGE
from llamonitor.otel_context import attach as _otel_attach
from llamonitor.otel_context import detach as _otel_detach
from llamonitor.otel_context import enter as _otel_enter
from llamonitor.runtime import STATE, note_uninitialized
from llamonitor.transport.records import OperationSpec, Record

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("llamonitor")
_perf = time.perf_counter_ns
_get = _current.get
_set = _current.set
_reset = _current.reset
_bits = ids.random_bits
_put_failed = False


def _put(rec: Any, record: Record) -> None:
    global _put_failed
    try:
        sampler = rec.sampler
        if sampler is None or sampler.keep(record):
            rec.put(record)
    except Exception:
        # Our failure must never become the user's: log once, drop, carry on.
        if not _put_failed:
            _put_failed = True
            logger.exception("llamonitor: could not enqueue an event (logged once)")


@overload
def monitor_llm(operation_name: F) -> F: ...


@overload
def monitor_llm(operation_name: str | None = None, operation_type: str = "llm_call", *,
                measure_text: bool | list[str] = False, measure_images: bool = False,
                collectors: list[str] | None = None, custom_attributes: dict[str, Any] | None = None,
                measurement: str | dict[str, Any] | MeasurementConfig | None = None,
                capture_content: bool | None = None, model: str | None = None,
                provider: str | None = None) -> Callable[[F], F]: ...


def monitor_llm(operation_name: Any = None, operation_type: str = "llm_call", *,
                measure_text: bool | list[str] = False, measure_images: bool = False,
                collectors: list[str] | None = None, custom_attributes: dict[str, Any] | None = None,
                measurement: str | dict[str, Any] | MeasurementConfig | None = None,
                capture_content: bool | None = None, model: str | None = None,
                provider: str | None = None) -> Any:
    """Monitor every call of the decorated function.

    Args:
        operation_name: name of the operation (defaults to the function's name). May also be
            the function itself, for a bare ``@monitor_llm``.
        operation_type: free-form kind (``"llm_call"``, ``"agent_workflow"``, ``"tool"``...).
        measure_text: measure the text of arguments and result (mode from ``measurement``).
        measure_images: count images in arguments and result.
        collectors: extra collector names (``"cost"``, or ones given to ``CollectorRegistry``).
        custom_attributes: stored with every event; ``"model"`` / ``"provider"`` keys name the
            model for token counting and pricing.
        measurement: ``"capacity"`` | ``"token"`` | ``"hybrid"`` | ``"auto"`` or a dict /
            :class:`MeasurementConfig` (defaults to the monitor config's).
        capture_content: store prompt and response text (defaults to the config's setting).
        model / provider: shorthand for the ``custom_attributes`` keys.

    Raises ``ValueError`` at decoration time for an unknown collector or measurement mode.
    """
    if callable(operation_name) and not isinstance(operation_name, str):
        return monitor_llm()(operation_name)
    if operation_name is not None and not isinstance(operation_name, str):
        raise TypeError(f"operation_name must be a string; got {type(operation_name).__name__}")
    names: list[str] = []
    if measure_text:
        names.append("text")
    if measure_images:
        names.append("image")
    for name in collectors or ():
        if not CollectorRegistry.is_registered(name):
            raise ValueError(f"unknown collector {name!r}; registered: {', '.join(CollectorRegistry.names())}")
        if name not in names:
            names.append(name)
    measure_cfg = MeasurementConfig.coerce(measurement) if measurement is not None else None
    if custom_attributes is not None and not isinstance(custom_attributes, dict):
        raise TypeError("custom_attributes must be a dict")

    def decorate(fn: Any) -> Any:
        if isinstance(fn, (classmethod, staticmethod)):
            return type(fn)(decorate(fn.__func__))
        if not callable(fn):
            raise TypeError(f"@monitor_llm needs a function; got {type(fn).__name__}")
        name = operation_name or str(getattr(fn, "__name__", "operation"))
        spec = OperationSpec(name, operation_type,
                             collectors=tuple(names), measurement=measure_cfg,
                             custom_attributes=custom_attributes, model=model, provider=provider,
                             capture_content=capture_content, indexed=True)
        if inspect.isasyncgenfunction(fn):
            wrapper = _wrap_async_gen(fn, spec)
        elif inspect.iscoroutinefunction(fn):
            wrapper = _wrap_async(fn, spec)
        elif inspect.isgeneratorfunction(fn):
            wrapper = _wrap_gen(fn, spec)
        else:
            wrapper = _wrap_sync(fn, spec)
        wrapper.__llamonitor_spec__ = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _open(rec: Any) -> tuple[tuple[Any, ...], Any, Any]:
    """Open a span under the current context: ``(context to run in, parent span id, OTel context)``.

    One place for every wrapper (sync, async, streams) so the id and OpenTelemetry rules cannot
    drift apart; the OTel context is ``None`` unless OpenTelemetry is importable and bridged.
    """
    session, trace, parent, agent, anchor = _get()
    span = _bits(64)
    otel_ctx = None
    otel = _BRIDGE.mod
    if otel is not None and (_BRIDGE.always or otel._TRACER_PROVIDER is not None):
        trace, parent, anchor, otel_ctx = _otel_enter(trace, parent, anchor, span, rec.sampler)
    elif trace is None:
        trace = _bits(128)
    return (session, trace, span, agent, anchor), parent, otel_ctx


def _wrap_async(fn: Callable[..., Any], spec: OperationSpec) -> Callable[..., Any]:
    spec_keeps = spec.keeps_io
    ref = spec.ref  # what a record holds: an int keeps queued records out of the cyclic GC (records.py)

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        rec = STATE.recorder
        if rec is None:
            note_uninitialized()
            return await fn(*args, **kwargs)
        keeps = rec.keep_io if spec_keeps is None else spec_keeps
        ctx, parent, otel_ctx = _open(rec)
        session, trace, span, agent, _ = ctx
        token = _set(ctx)
        otel_token = _otel_attach(otel_ctx) if otel_ctx is not None else None
        t0 = _perf()
        start = t0 + _clock.OFFSET  # one read: start and duration on one time line (clock.py)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            duration = _perf() - t0
            _reset(token)
            if otel_token is not None:
                _otel_detach(otel_token)
            _put(rec, (ref, session, trace, span, parent, agent, start, duration,
                       args if keeps else None, kwargs if keeps else None, None, exc, None))
            raise
        duration = _perf() - t0
        _reset(token)
        if otel_token is not None:
            _otel_detach(otel_token)
        _put(rec, (ref, session, trace, span, parent, agent, start, duration,
                   args if keeps else None, kwargs if keeps else None, result if keeps else None, None, None))
        return result

    return wrapper


def _wrap_sync(fn: Callable[..., Any], spec: OperationSpec) -> Callable[..., Any]:
    spec_keeps = spec.keeps_io
    ref = spec.ref  # what a record holds: an int keeps queued records out of the cyclic GC (records.py)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        rec = STATE.recorder
        if rec is None:
            note_uninitialized()
            return fn(*args, **kwargs)
        keeps = rec.keep_io if spec_keeps is None else spec_keeps
        ctx, parent, otel_ctx = _open(rec)
        session, trace, span, agent, _ = ctx
        token = _set(ctx)
        otel_token = _otel_attach(otel_ctx) if otel_ctx is not None else None
        t0 = _perf()
        start = t0 + _clock.OFFSET  # one read: start and duration on one time line (clock.py)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            duration = _perf() - t0
            _reset(token)
            if otel_token is not None:
                _otel_detach(otel_token)
            _put(rec, (ref, session, trace, span, parent, agent, start, duration,
                       args if keeps else None, kwargs if keeps else None, None, exc, None))
            raise
        duration = _perf() - t0
        _reset(token)
        if otel_token is not None:
            _otel_detach(otel_token)
        _put(rec, (ref, session, trace, span, parent, agent, start, duration,
                   args if keeps else None, kwargs if keeps else None, result if keeps else None, None, None))
        return result

    return wrapper


class _Stream:
    """Book-keeping of one streamed call; ``finish`` enqueues its event exactly once."""

    __slots__ = ("args", "chunks", "ctx", "first_ns", "kwargs", "n", "otel_ctx", "parent", "rec", "spec", "start",
                 "t0")

    def __init__(self, rec: Any, spec: OperationSpec, args: Any, kwargs: Any) -> None:
        self.rec = rec
        self.spec = spec
        #: the context the body runs in, its parent span, and the OpenTelemetry context it runs
        #: in (``None``: no bridging)
        self.ctx, self.parent, self.otel_ctx = _open(rec)
        keeps = rec.keep_io if spec.keeps_io is None else spec.keeps_io
        self.args = args if keeps else None
        self.kwargs = kwargs if keeps else None
        self.chunks: list[Any] | None = [] if keeps else None
        self.first_ns: int | None = None
        self.n = 0
        self.t0 = _perf()
        self.start = self.t0 + _clock.OFFSET

    def chunk(self, item: Any) -> None:
        if self.first_ns is None:
            self.first_ns = _perf() - self.t0
        self.n += 1
        if self.chunks is not None:
            self.chunks.append(item)

    def finish(self, status: str, error: BaseException | None = None) -> None:
        duration = _perf() - self.t0
        session, trace, span, agent, _ = self.ctx
        parent = self.parent
        attrs: dict[str, Any] = {"stream": True, "stream_status": status, "stream_chunks": self.n}
        if self.first_ns is not None:
            attrs["time_to_first_chunk_ms"] = self.first_ns / 1e6
        _put(self.rec, (self.spec.ref, session, trace, span, parent, agent, self.start, duration,
                        self.args, self.kwargs, self.chunks, error, {"attributes": attrs}))


def _wrap_gen(fn: Callable[..., Generator[Any, Any, Any]], spec: OperationSpec) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        rec = STATE.recorder
        if rec is None:
            note_uninitialized()
            return (yield from fn(*args, **kwargs))
        st = _Stream(rec, spec, args, kwargs)
        ctx, otel_ctx = st.ctx, st.otel_ctx
        token = _set(ctx)
        try:
            gen = fn(*args, **kwargs)
        finally:
            _reset(token)
        send: Any = None
        thrown: BaseException | None = None
        while True:
            # The wrapped body runs under our span only while it runs: set/reset around each
            # resumption so the span never leaks into the consumer between chunks.
            token = _set(ctx)
            otel_token = _otel_attach(otel_ctx) if otel_ctx is not None else None
            try:
                if thrown is not None:
                    exc, thrown = thrown, None
                    item = gen.throw(exc)
                else:
                    item = gen.send(send)
            except StopIteration as stop:
                st.finish("completed")
                return stop.value
            except BaseException as exc:
                st.finish("error", exc)
                raise
            finally:
                _reset(token)
                if otel_token is not None:
                    _otel_detach(otel_token)
            st.chunk(item)
            try:
                send = yield item
            except GeneratorExit:
                token = _set(ctx)
                otel_token = _otel_attach(otel_ctx) if otel_ctx is not None else None
                try:
                    gen.close()
                finally:
                    _reset(token)
                    if otel_token is not None:
                        _otel_detach(otel_token)
                st.finish("abandoned")
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper


def _wrap_async_gen(fn: Callable[..., AsyncGenerator[Any, Any]], spec: OperationSpec) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        rec = STATE.recorder
        if rec is None:
            note_uninitialized()
            async for item in fn(*args, **kwargs):
                yield item
            return
        st = _Stream(rec, spec, args, kwargs)
        ctx, otel_ctx = st.ctx, st.otel_ctx
        token = _set(ctx)
        try:
            agen = fn(*args, **kwargs)
        finally:
            _reset(token)
        send: Any = None
        thrown: BaseException | None = None
        while True:
            token = _set(ctx)
            otel_token = _otel_attach(otel_ctx) if otel_ctx is not None else None
            try:
                if thrown is not None:
                    exc, thrown = thrown, None
                    item = await agen.athrow(exc)
                else:
                    item = await agen.asend(send)
            except StopAsyncIteration:
                st.finish("completed")
                return
            except BaseException as exc:
                st.finish("error", exc)
                raise
            finally:
                _reset(token)
                if otel_token is not None:
                    _otel_detach(otel_token)
            st.chunk(item)
            try:
                send = yield item
            except GeneratorExit:
                token = _set(ctx)
                otel_token = _otel_attach(otel_ctx) if otel_ctx is not None else None
                try:
                    await agen.aclose()
                finally:
                    _reset(token)
                    if otel_token is not None:
                        _otel_detach(otel_token)
                st.finish("abandoned")
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper
