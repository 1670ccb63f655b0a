"""Turn raw hot-path records into :class:`MetricEvent` objects (runs in the worker).

This is where the heavy work lives: id formatting, clock conversion, collectors (text
measurement, images, cost), content capture and redaction. A failing collector is logged once
and counted; it never loses the event.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

from llamonitor.ids import event_uuid, span_hex, trace_hex
from llamonitor.instrumentation.base import CollectorRegistry
from llamonitor.schema.config import MonitorConfig
from llamonitor.schema.events import MetricEvent, TokenUsage
from llamonitor.schema.serialize import NESTED, NESTED_FIELDS
from llamonitor.transport.records import OperationSpec

logger = logging.getLogger("llamonitor")
_MAX_ERROR_MESSAGE = 2000
_KNOWN_KEYS = frozenset(NESTED) | {"custom_attributes", "model", "provider"}


def safe_text(value: Any, limit: int) -> str:
    """``str(value)`` truncated, or a placeholder if ``__str__`` raises."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def format_id(value: int | str | None, *, trace: bool = False) -> str | None:
    """Hex-format generated ids; pass adapter-provided strings through."""
    if value is None or isinstance(value, str):
        return value
    return trace_hex(value) if trace else span_hex(value)


class EventBuilder:
    """Builds events from records; one per worker (not thread-safe, needs no locks)."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.collector_errors: dict[str, int] = {}
        self._warned: set[str] = set()
        # Many events share a trace: format each generated trace id once.
        self._trace_hex: dict[int, str] = {}

    def _trace(self, trace: int | str | None) -> str:
        if trace is None or isinstance(trace, str):
            return trace or ""
        cached = self._trace_hex.get(trace)
        if cached is None:
            if len(self._trace_hex) > 50_000:
                self._trace_hex.clear()
            cached = self._trace_hex[trace] = trace_hex(trace)
        return cached

    def build(self, rec: tuple[Any, ...]) -> MetricEvent:
        (spec, session, trace, span, parent, agent, start_ns, duration_ns,
         args, kwargs, result, error, extra) = rec
        spec_t: OperationSpec = spec
        attrs = spec_t.custom_attributes.copy() if spec_t.custom_attributes else {}
        model = spec_t.model
        provider = spec_t.provider
        usage: TokenUsage | None = None
        if extra:
            model = extra.get("model") or model
            provider = extra.get("provider") or provider
            usage = extra.get("usage")
            extra_attrs = extra.get("attributes")
            if extra_attrs:
                attrs.update(extra_attrs)
        event = MetricEvent(
            event_id=event_uuid(span) if isinstance(span, int) else str(span),
            session_id=session or self.config.default_session_id,
            trace_id=self._trace(trace),
            span_id=span_hex(span) if isinstance(span, int) else str(span),
            parent_span_id=span_hex(parent) if isinstance(parent, int) else parent,
            operation_name=spec_t.operation_name,
            operation_type=spec_t.operation_type,
            start_time_ns=start_ns,
            end_time_ns=start_ns + duration_ns,
            duration_ms=duration_ns / 1e6,
            model=model,
            provider=provider,
            usage=usage,
            agent=agent,
            custom_attributes=attrs,
        )
        if extra and "event_id" in extra:
            event.event_id = extra["event_id"]
        if error is not None:
            event.error = True
            event.error_type = type(error).__name__
            event.error_message = safe_text(error, _MAX_ERROR_MESSAGE)
        collectors = spec_t.collectors
        if usage is not None and "cost" not in collectors:
            collectors = (*collectors, "cost")
        if collectors:
            self._run_collectors(event, collectors, spec_t, result, args, kwargs, error)
        capture = spec_t.capture_content if spec_t.capture_content is not None else self.config.capture_content
        if capture:
            self._capture(event, extra, args, kwargs, result)
        return event

    def _run_collectors(self, event: MetricEvent, names: tuple[str, ...], spec: OperationSpec,
                        result: Any, args: Any, kwargs: Any, error: BaseException | None) -> None:
        context = {
            "operation_name": spec.operation_name,
            "operation_type": spec.operation_type,
            "model": event.model,
            "provider": event.provider,
            "custom_attributes": spec.custom_attributes,
            "measurement": spec.measurement or self.config.measurement,
            "usage": event.usage,
            "error": error,
            "event": event,
        }
        for name in names:
            try:
                out = CollectorRegistry.get(name).collect(result, args or (), kwargs or {}, context)
                if out:
                    self._merge(event, out)
                    context["model"] = event.model
            except Exception:
                self.collector_errors[name] = self.collector_errors.get(name, 0) + 1
                if name not in self._warned:
                    self._warned.add(name)
                    logger.exception("llamonitor: collector %r failed; the event is kept without its "
                                     "metrics (logged once per collector)", name)

    @staticmethod
    def _merge(event: MetricEvent, out: dict[str, Any]) -> None:
        for key, value in out.items():
            if value is None:
                continue
            if key in NESTED:
                if isinstance(value, dict):
                    allowed = NESTED_FIELDS[key]
                    unknown = {k: v for k, v in value.items() if k not in allowed}
                    current = getattr(event, key)
                    base = {f.name: getattr(current, f.name) for f in fields(current)} if current else {}
                    base.update({k: v for k, v in value.items() if k in allowed})
                    value = NESTED[key](**base)
                    if unknown:
                        event.custom_attributes.update(unknown)
                setattr(event, key, value)
            elif key == "custom_attributes":
                event.custom_attributes.update(value)
            elif key in ("model", "provider"):
                if getattr(event, key) is None:
                    setattr(event, key, str(value))
            else:
                event.custom_attributes[key] = value

    def _capture(self, event: MetricEvent, extra: dict[str, Any] | None, args: Any, kwargs: Any,
                 result: Any) -> None:
        from llamonitor.measurement import extract_input_text, extract_text

        limit = self.config.max_content_chars
        inp = extra.get("input_content") if extra else None
        out = extra.get("output_content") if extra else None
        if inp is None and args is not None:
            inp = extract_input_text(args, kwargs or {}, limit=limit)
        if out is None and result is not None:
            out = extract_text(result, limit=limit)
        redact = self.config.content_redactor
        for name, text in (("input_content", inp), ("output_content", out)):
            if text is None:
                continue
            text = text[:limit]
            if redact is not None:
                try:
                    text = redact(text)
                except Exception:
                    # A broken redactor must not leak what it was meant to hide.
                    text = "<redaction failed>"
            setattr(event, name, text)
