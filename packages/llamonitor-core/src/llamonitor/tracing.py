"""The public emit API for adapters (OpenAI / Anthropic patches, framework handlers).

Adapters import core's emit side only, never the worker, a backend or the query layer:

- this module (``start_span``, ``Span``, ``suppress_instrumentation``, ``is_recording``,
  ``is_suppressed``) and :mod:`llamonitor.schema.events` (``AgentIdentity``, ``TokenUsage``);
- :mod:`llamonitor.instrumentation.adapter` (the contract: ``Adapter``, ``InstrumentOptions``,
  ``make_warn_once``) and, for SDKs hooked by wrapping methods,
  :mod:`llamonitor.instrumentation.patching` / :mod:`llamonitor.instrumentation.streams`;
- :mod:`llamonitor.context` to read the current trace / span ids;
- :mod:`llamonitor.clock` to put a framework's own ``time.time()`` stamps on the time line of
  ``Span.start_ns`` / ``end_ns`` (``clock.from_wall``).

::

    from llamonitor.tracing import start_span, is_suppressed, suppress_instrumentation

    span = start_span("chat gpt-4o", operation_type="chat", provider="openai", model="gpt-4o")
    with span.activate():          # nested spans (tool calls...) become its children
        ...
    span.end(usage=TokenUsage(input_tokens=..., output_tokens=..., source="provider"))

A span records nothing until ``end``; ``end`` is idempotent. All methods are safe to call
when monitoring is off (they do nothing) and never raise into the caller's code.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llamonitor import clock, ids, otel_context
from llamonitor.context import _EMPTY as _NO_CONTEXT
from llamonitor.context import _current
from llamonitor.runtime import STATE
from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.transport.records import OperationSpec

_suppressed: contextvars.ContextVar[bool] = contextvars.ContextVar("llamonitor_suppressed", default=False)
_specs: dict[tuple[str, str, bool | None], OperationSpec] = {}


def is_recording() -> bool:
    """Whether monitoring is initialised (adapters may skip work when it is not)."""
    return STATE.recorder is not None


@contextmanager
def suppress_instrumentation() -> Iterator[None]:
    """Inside this block, SDK-level instrumentation records nothing.

    A framework adapter that records an LLM call itself wraps the SDK call in this, so one
    call produces one event (rule 2 of the design).
    """
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def is_suppressed() -> bool:
    """Whether the current context is inside :func:`suppress_instrumentation`."""
    return _suppressed.get()


def _spec(operation_name: str, operation_type: str, capture_content: bool | None) -> OperationSpec:
    key = (operation_name, operation_type, capture_content)
    spec = _specs.get(key)
    if spec is None:
        if len(_specs) > 10_000:  # bound the cache against unbounded operation names
            _specs.clear()
        spec = _specs[key] = OperationSpec(operation_name, operation_type, capture_content=capture_content)
    return spec


class Span:
    """One operation recorded by an adapter. Create with :func:`start_span`."""

    __slots__ = ("_ended", "_token", "agent", "anchor", "attributes", "capture_content", "extra", "model",
                 "operation_name", "operation_type", "otel_current", "parent", "provider", "session", "span",
                 "start_ns", "t0", "trace")

    def __init__(self, operation_name: str, operation_type: str, *, session_id: str | None,
                 trace_id: str | None, parent_span_id: str | None, span_id: str | None,
                 agent: AgentIdentity | None, model: str | None, provider: str | None,
                 attributes: dict[str, Any] | None, inherit: bool, capture_content: bool | None = None) -> None:
        session, trace, parent, ctx_agent, anchor = _current.get() if inherit else _NO_CONTEXT
        self.operation_name = operation_name
        self.operation_type = operation_type
        self.session = session_id if session_id is not None else session
        #: the current OpenTelemetry span when this one started, ``(trace, span, sampled, state)``
        self.otel_current: Any = None
        if trace_id is None and parent_span_id is None and inherit and otel_context.is_active():
            # Ids not given: an application's OpenTelemetry span closer than llamonitor's
            # context becomes the parent (otel_context).
            trace, parent, self.otel_current, _ = otel_context.join(trace, parent, anchor)
        self.trace: str | int = trace_id if trace_id is not None else (trace if trace is not None
                                                                       else ids.random_bits(128))
        self.parent: str | int | None = parent_span_id if parent_span_id is not None else parent
        self.span: str | int = span_id if span_id is not None else ids.random_bits(64)
        #: the OpenTelemetry span current around this one (the anchor of ``activate``'s context)
        self.anchor = anchor
        self.agent = agent if agent is not None else ctx_agent
        self.model = model
        self.provider = provider
        self.attributes: dict[str, Any] = dict(attributes) if attributes else {}
        self.extra: dict[str, Any] = {}
        #: store input/output content given to ``end`` (``None``: follow ``MonitorConfig.capture_content``)
        self.capture_content = capture_content
        self.t0 = time.perf_counter_ns()
        #: Unix ns on the process's time line (``llamonitor.clock``); set it with ``clock.from_wall``
        #: when a framework stamped the start with ``time.time()``
        self.start_ns = self.t0 + clock.OFFSET
        self._ended = False
        self._token: contextvars.Token[Any] | None = None

    @property
    def span_id(self) -> str:
        """This span's id as stored (hex for generated ids)."""
        return ids.span_hex(self.span) if isinstance(self.span, int) else self.span

    @property
    def trace_id(self) -> str:
        """The trace id as stored."""
        return ids.trace_hex(self.trace) if isinstance(self.trace, int) else self.trace

    def set_attribute(self, key: str, value: Any) -> None:
        """Add a custom attribute."""
        self.attributes[key] = value

    @contextmanager
    def activate(self) -> Iterator[Span]:
        """Make this span the parent of spans started (or decorated calls made) inside.

        While OpenTelemetry is bridged (``MonitorConfig.otel_context``), it is also the current
        OpenTelemetry span inside, so instrumentations' spans nest under it.
        """
        otel_token = None
        anchor = self.anchor
        if otel_context.is_active():
            cur = self.otel_current
            if cur is None:
                cur = otel_context.current_ids()
            rec = STATE.recorder
            otel_ctx, anchor = otel_context.expose(self.trace, self.span, cur,
                                                   rec.sampler if rec is not None else None)
            if otel_ctx is not None:
                otel_token = otel_context.attach(otel_ctx)
        token = _current.set((self.session, self.trace, self.span, self.agent, anchor))
        try:
            yield self
        finally:
            try:
                _current.reset(token)
            except ValueError:
                pass
            otel_context.detach(otel_token)

    def end(self, *, error: BaseException | None = None, usage: TokenUsage | None = None,
            model: str | None = None, provider: str | None = None, result: Any = None,
            input_content: str | None = None, output_content: str | None = None,
            attributes: dict[str, Any] | None = None, end_ns: int | None = None,
            response_model: str | None = None, system_instructions: str | None = None) -> None:
        """Finish the span and enqueue its event (only the first call counts).

        ``model`` replaces the model the span started with (the one the caller asked for);
        ``response_model`` is the model the provider says answered (often a dated snapshot).
        ``system_instructions`` (the system prompt) is stored like ``input_content``: only with
        content capture on, through the redactor. ``end_ns`` is on the same time line as
        ``start_ns`` (``llamonitor.clock``); without it the span ends now.
        """
        if self._ended:
            return
        self._ended = True
        rec = STATE.recorder
        if rec is None:
            return
        duration = (time.perf_counter_ns() - self.t0) if end_ns is None else max(0, end_ns - self.start_ns)
        if attributes:
            self.attributes.update(attributes)
        extra = self.extra
        extra["model"] = model or self.model
        extra["provider"] = provider or self.provider
        if response_model:
            extra["response_model"] = response_model
        if usage is not None:
            extra["usage"] = usage
        if self.attributes:
            extra["attributes"] = self.attributes
        if input_content is not None:
            extra["input_content"] = input_content
        if output_content is not None:
            extra["output_content"] = output_content
        if system_instructions is not None:
            extra["system_instructions"] = system_instructions
        spec = _spec(self.operation_name, self.operation_type, self.capture_content)
        try:
            record = (spec.ref, self.session, self.trace, self.span, self.parent, self.agent, self.start_ns,
                      duration, None, None, result, error, extra)
            sampler = rec.sampler
            if sampler is None or sampler.keep(record):
                rec.put(record)
        except Exception:
            pass


def start_span(operation_name: str, *, operation_type: str = "llm_call", session_id: str | None = None,
               trace_id: str | None = None, parent_span_id: str | None = None, span_id: str | None = None,
               agent: AgentIdentity | None = None, model: str | None = None, provider: str | None = None,
               attributes: dict[str, Any] | None = None, inherit_context: bool = True,
               capture_content: bool | None = None) -> Span:
    """Start a span; ids not given are taken from the current context (or generated).

    ``capture_content`` forces storing (``True``) or dropping (``False``) the content passed to
    :meth:`Span.end`; ``None`` follows ``MonitorConfig.capture_content``. The config's
    ``content_redactor`` applies either way.
    """
    return Span(operation_name, operation_type, session_id=session_id, trace_id=trace_id,
                parent_span_id=parent_span_id, span_id=span_id, agent=agent, model=model,
                provider=provider, attributes=attributes, inherit=inherit_context,
                capture_content=capture_content)
