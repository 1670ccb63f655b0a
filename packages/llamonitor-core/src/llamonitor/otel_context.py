"""One trace with the application's OpenTelemetry spans, in both directions.

When ``opentelemetry-api`` is importable and OpenTelemetry is in use (``MonitorConfig.otel_context``:
``"auto"`` -- a ``TracerProvider`` was set --, ``"always"`` or ``"off"``):

* **joining**: a llamonitor span started inside an active OpenTelemetry span takes its trace id
  and uses it as parent, unless a llamonitor span is closer;
* **exposing**: while a llamonitor span runs (a decorated call, ``Span.activate()``), it is the
  current OpenTelemetry span -- a non-recording span with the llamonitor ids -- so spans that
  OpenTelemetry instrumentations (OpenLLMetry, OpenInference, httpx...) start inside it are its
  children. Its ``sampled`` flag carries llamonitor's head-sampling decision, so a
  ``ParentBased`` sampler keeps or drops the app's spans of that trace with ours.

"Closer" is decided with the *anchor* kept in llamonitor's context (the fifth item of
:data:`llamonitor.context.Ctx`): the id of the OpenTelemetry span that was current when the
llamonitor context was set (our own span's id when we exposed it). An OpenTelemetry span that
is current now but is not the anchor was started after that, inside our context, so it is the
closer parent.

Nothing here runs unless the gate is open: :data:`BRIDGE` ``.mod`` is ``None`` when
OpenTelemetry is not importable or the switch is off, so users without OpenTelemetry pay one
attribute read per call. Every failure is logged once and the call goes on unjoined.
"""

from __future__ import annotations

import logging
from typing import Any

from llamonitor import ids

logger = logging.getLogger("llamonitor")
_MASK64 = (1 << 64) - 1


class _Bridge:
    """What the hot path reads: ``mod`` is ``opentelemetry.trace`` while bridging is possible."""

    __slots__ = ("always", "attach", "detach", "get_current_span", "mod", "noop_provider", "set_span_in_context",
                 "span_class", "warned")

    def __init__(self) -> None:
        self.mod: Any = None
        #: bridge even when no TracerProvider was set (``otel_context="always"``)
        self.always = False
        self.span_class: Any = None
        #: ``NoOpTracerProvider``: set on purpose to switch tracing off, so not a reason to bridge
        self.noop_provider: Any = None
        self.get_current_span: Any = None
        self.set_span_in_context: Any = None
        self.attach: Any = None
        self.detach: Any = None
        self.warned = False


BRIDGE = _Bridge()
#: the modes of ``MonitorConfig.otel_context``
MODES = ("auto", "always", "off")


def configure(mode: str) -> bool:
    """Switch bridging for ``mode``; ``True`` when it can happen (the API is importable and mode is not off)."""
    if mode not in MODES:
        raise ValueError(f"otel_context must be one of {', '.join(map(repr, MODES))}; got {mode!r}")
    BRIDGE.mod = None
    if mode == "off":
        return False
    try:
        from opentelemetry import context as otel_context
        from opentelemetry import trace as otel_trace

        from llamonitor._otel_span import LlamonitorSpan
    except ImportError:
        return False
    BRIDGE.span_class = LlamonitorSpan
    BRIDGE.noop_provider = getattr(otel_trace, "NoOpTracerProvider", None)
    BRIDGE.get_current_span = otel_trace.get_current_span
    BRIDGE.set_span_in_context = otel_trace.set_span_in_context
    BRIDGE.attach = otel_context.attach
    BRIDGE.detach = otel_context.detach
    # "auto" reads whether a TracerProvider was set from the API's module global; an API without
    # it (never seen: it exists since 1.0) is treated as "always" rather than never joining.
    BRIDGE.always = mode == "always" or not hasattr(otel_trace, "_TRACER_PROVIDER")
    BRIDGE.mod = otel_trace
    return True


def is_active() -> bool:
    """Whether llamonitor joins and exposes OpenTelemetry spans right now."""
    mod = BRIDGE.mod
    if mod is None:
        return False
    if BRIDGE.always:
        return True
    provider = mod._TRACER_PROVIDER
    return provider is not None and type(provider) is not BRIDGE.noop_provider


def _warn(what: str) -> None:
    if not BRIDGE.warned:
        BRIDGE.warned = True
        logger.warning("llamonitor: %s failed; spans are recorded without the OpenTelemetry context "
                       "(logged once)", what, exc_info=True)


#: (span object, what :func:`_current` answered for it): calls under one app span (a request's)
#: read its ids once. One tuple, replaced whole: safe across threads. It keeps that one span
#: object alive until another is current (identity stays a valid key while it is held).
_last: tuple[Any, Any] = (None, None)


def _current() -> tuple[int, int, Any, Any] | None:
    """``(trace id, span id, sampled, trace_state)`` of the current valid OpenTelemetry span, or ``None``."""
    global _last
    cur = BRIDGE.get_current_span()
    if type(cur) is BRIDGE.span_class:  # one of ours: no SpanContext to build
        ids_: tuple[int, int, Any, Any] = cur.ids
        return ids_
    last = _last
    if last[0] is cur:
        found: tuple[int, int, Any, Any] | None = last[1]
        return found
    ctx = cur.get_span_context()
    found = (ctx.trace_id, ctx.span_id, ctx.trace_flags.sampled, ctx.trace_state) if ctx.is_valid else None
    _last = (cur, found)
    return found


def join(trace: Any, parent: Any, anchor: Any) -> tuple[Any, Any, Any, Any]:
    """The ``(trace, parent, current, joined)`` a new span takes, given llamonitor's context.

    ``current`` is the current OpenTelemetry span's ``(trace, span, sampled, state)`` or ``None``;
    ``joined`` whether it became the parent. A missing trace gets a new random id.
    """
    try:
        cur = _current()
    except Exception:
        _warn("reading the current OpenTelemetry span")
        cur = None
    if cur is not None and cur[1] != anchor:
        return cur[0], cur[1], cur, True
    return (trace if trace is not None else ids.random_bits(128)), parent, cur, False


def trace_int(trace: Any) -> int | None:
    """``trace`` as an OpenTelemetry trace id (an int, or 32 hex digits), else ``None``."""
    if type(trace) is int:
        return trace if 0 < trace < (1 << 128) else None
    if isinstance(trace, str) and len(trace) == 32:
        try:
            value = int(trace, 16)
        except ValueError:
            return None
        return value or None
    return None


def expose(trace: Any, span: Any, cur: Any, sampler: Any) -> tuple[Any, Any]:
    """``(OpenTelemetry context making our span current, anchor)`` for a span about to run.

    The context is ``None`` when the ids cannot be OpenTelemetry ids (an adapter's string span
    id, a user's trace name); the anchor is then the current OpenTelemetry span, so a
    llamonitor span inside still takes ours as parent.
    """
    t = trace_int(trace)
    if t is None or type(span) is not int or not 0 < span <= _MASK64:
        return None, (cur[1] if cur is not None else None)
    try:
        sampled = sampler is None or sampler.keeps_trace(t)
        state = None
        if cur is not None and cur[0] == t:
            # Same trace as the span around us: keep its vendor state, and its "not sampled".
            sampled = sampled and bool(cur[2])
            state = cur[3]
        otel_ctx = BRIDGE.set_span_in_context(BRIDGE.span_class(t, span, sampled, state))
    except Exception:
        _warn("exposing a llamonitor span to OpenTelemetry")
        return None, (cur[1] if cur is not None else None)
    return otel_ctx, span


def attach(otel_ctx: Any) -> Any:
    """Make ``otel_ctx`` current; returns the token for :func:`detach` (``None`` on failure)."""
    try:
        return BRIDGE.attach(otel_ctx)
    except Exception:
        _warn("attaching the OpenTelemetry context")
        return None


def detach(token: Any) -> None:
    """Undo :func:`attach` (in the same context it was attached in)."""
    if token is None:
        return
    try:
        BRIDGE.detach(token)
    except Exception:
        _warn("detaching the OpenTelemetry context")


def enter(trace: Any, parent: Any, anchor: Any, span: Any, sampler: Any) -> tuple[Any, Any, Any, Any]:
    """Join, then expose: ``(trace, parent, anchor inside the span, OpenTelemetry context or None)``.

    The decorator's slow path, taken once a provider is set (its gate reads one attribute only).
    """
    mod = BRIDGE.mod  # read once: shutdown may switch the bridge off meanwhile
    if mod is None or (not BRIDGE.always and type(mod._TRACER_PROVIDER) is BRIDGE.noop_provider):
        return (trace if trace is not None else ids.random_bits(128)), parent, anchor, None
    trace, parent, cur, _joined = join(trace, parent, anchor)
    otel_ctx, inner_anchor = expose(trace, span, cur, sampler)
    return trace, parent, inner_anchor, otel_ctx


def current_ids() -> tuple[int, int, Any, Any] | None:
    """``(trace id, span id, sampled, trace_state)`` of the current OpenTelemetry span, or ``None``
    (no valid span, or bridging off)."""
    if not is_active():
        return None
    try:
        return _current()
    except Exception:
        _warn("reading the current OpenTelemetry span")
        return None


def current_anchor() -> Any:
    """The id of the current OpenTelemetry span (``None`` without one, or while bridging is off)."""
    cur = current_ids()
    return cur[1] if cur is not None else None
