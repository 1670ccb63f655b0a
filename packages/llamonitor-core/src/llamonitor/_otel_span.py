"""The OpenTelemetry span a running llamonitor span shows to OpenTelemetry (imported only with the API).

A ``NonRecordingSpan`` whose ``SpanContext`` is built on first use: building one costs more than
the rest of the bridge, and most of the time nothing inside asks for it.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)


class LlamonitorSpan(NonRecordingSpan):
    """A llamonitor span as the current OpenTelemetry span: its ids, nothing recorded through it.

    llamonitor records the span itself (and the OTLP exporter sends it with these ids), so
    spans OpenTelemetry starts inside it are its children in one trace.
    """

    def __init__(self, trace_id: int, span_id: int, sampled: bool, trace_state: Any = None) -> None:
        # Not NonRecordingSpan.__init__: the SpanContext is made in get_span_context.
        self._context: SpanContext | None = None  # type: ignore[assignment]
        #: (trace id, span id, sampled, trace_state) -- what llamonitor's own checks read
        self.ids = (trace_id, span_id, sampled, trace_state)

    def get_span_context(self) -> SpanContext:
        ctx = self._context
        if ctx is None:
            trace_id, span_id, sampled, state = self.ids
            ctx = self._context = SpanContext(trace_id, span_id, is_remote=False,
                                              trace_flags=_SAMPLED if sampled else _NOT_SAMPLED,
                                              trace_state=state)
        return ctx

    def __repr__(self) -> str:
        trace_id, span_id, sampled, _ = self.ids
        return f"LlamonitorSpan(trace_id=0x{trace_id:032x}, span_id=0x{span_id:016x}, sampled={sampled})"
