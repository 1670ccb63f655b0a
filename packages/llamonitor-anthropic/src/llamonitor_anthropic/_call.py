"""One recorded Anthropic ``messages`` call, its usage normalisation and the stream proxies.

Anthropic reports ``input_tokens`` *excluding* cache reads and cache writes; llamonitor's
:class:`TokenUsage` is OpenAI-style (input includes both), so they are added back here.
Streams split usage: ``message_start`` carries input / cache counts, ``message_delta`` the
(cumulative) output count and, in newer API versions, final input / cache counts too.
"""

from __future__ import annotations

import json
import time
from typing import Any

from llamonitor.instrumentation.adapter import make_warn_once
from llamonitor.instrumentation.streams import error_attributes
from llamonitor.schema.events import TokenUsage
from llamonitor.tracing import Span, start_span

PROVIDER = "anthropic"
#: the adapter's warn-once (keys shared with ``AnthropicAdapter.warn_once``: one logger, one set)
warn_once = make_warn_once("anthropic")
_PARAMS = {"temperature": "gen_ai.request.temperature", "top_p": "gen_ai.request.top_p",
           "top_k": "gen_ai.request.top_k", "max_tokens": "gen_ai.request.max_tokens"}
_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def normalize_usage(raw: dict[str, int | None], thinking: int | None = None) -> TokenUsage:
    """Anthropic counts -> OpenAI-style TokenUsage (input includes cache reads and writes)."""
    base = raw.get("input_tokens") or 0
    created = raw.get("cache_creation_input_tokens") or 0
    read = raw.get("cache_read_input_tokens") or 0
    out = raw.get("output_tokens")
    total_in = base + created + read
    return TokenUsage(input_tokens=total_in, output_tokens=out, total_tokens=total_in + (out or 0),
                      cached_input_tokens=read or None, cache_creation_input_tokens=created or None,
                      reasoning_tokens=thinking or None, source="provider")


def _merge_usage(into: dict[str, int | None], usage: Any) -> int | None:
    """Copy the non-null counts of an SDK usage object; returns thinking tokens if reported."""
    for name in _USAGE_FIELDS:
        value = _int(getattr(usage, name, None))
        if value is not None:
            into[name] = value
    return _int(getattr(getattr(usage, "output_tokens_details", None), "thinking_tokens", None))


def _system_text(system: Any) -> str | None:
    """The ``system`` parameter as text: a string, or the text of its text blocks."""
    if isinstance(system, str):
        return system or None
    if isinstance(system, (list, tuple)):
        texts = [b.get("text") for b in system if isinstance(b, dict) and b.get("type", "text") == "text"]
        joined = "\n".join(t for t in texts if isinstance(t, str))
        return joined or None
    return None


def _input_text(kwargs: dict[str, Any]) -> str:
    parts = []
    system = kwargs.get("system")
    if isinstance(system, str):
        parts.append(f"system: {system}")
    for m in kwargs.get("messages") or ():
        if isinstance(m, dict):
            content = m.get("content")
            text = content if isinstance(content, str) else json.dumps(content, default=str)
            parts.append(f"{m.get('role', '')}: {text}")
    return "\n".join(parts)


class Call:
    """State of one ``messages`` call until its event is sent (exactly once)."""

    __slots__ = ("answered", "capture", "ended", "first_ns", "input", "last_ns", "model", "raw_usage", "response_id",
                 "span", "stop_reason", "texts", "thinking", "tool_calls")

    def __init__(self, kwargs: dict[str, Any], capture: bool, stream: bool) -> None:
        model = kwargs.get("model")
        #: the model asked for (the event's ``model``); ``answered``: what the API says answered
        self.model: str | None = model if isinstance(model, str) else None
        self.answered: str | None = None
        attrs: dict[str, Any] = {}
        for key, name in _PARAMS.items():
            value = kwargs.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attrs[name] = value
        if stream:
            attrs["stream"] = True
        self.span: Span = start_span(f"chat {self.model}" if self.model else "chat", operation_type="chat",
                                     provider=PROVIDER, model=self.model, attributes=attrs, capture_content=capture)
        self.capture = capture
        self.input = _input_text(kwargs) if capture else None
        if capture:
            system = _system_text(kwargs.get("system"))
            if system is not None:  # stored only with capture on, through the redactor
                self.span.extra["system_instructions"] = system
        self.ended = False
        self.first_ns = 0
        self.last_ns = 0
        self.response_id: str | None = None
        self.raw_usage: dict[str, int | None] = {}
        self.thinking: int | None = None
        self.stop_reason: str | None = None
        self.tool_calls: list[str] = []
        self.texts: list[str] = []

    def fail(self, exc: BaseException) -> None:
        """The SDK raised: record the error with the HTTP status when there is one."""
        self.ended = True
        try:
            self.span.end(error=exc, attributes=error_attributes(exc), input_content=self.input)
        except Exception:
            warn_once("fail", "recording an Anthropic error failed")

    def finish_result(self, message: Any) -> None:
        """A non-streamed ``Message`` arrived."""
        self.response_id = getattr(message, "id", None)
        self.answered = getattr(message, "model", None) or self.answered
        self.stop_reason = getattr(message, "stop_reason", None)
        usage = getattr(message, "usage", None)
        if usage is not None:
            self.thinking = _merge_usage(self.raw_usage, usage)
        for block in getattr(message, "content", None) or ():
            kind = getattr(block, "type", None)
            if kind == "tool_use":
                self.tool_calls.append(str(getattr(block, "name", "")))
            elif kind == "text" and self.capture:
                self.texts.append(str(getattr(block, "text", "")))
        self.end()

    def end(self, *, error: BaseException | None = None, stream_completed: bool | None = None,
            end_ns: int | None = None) -> None:
        """Send the event (only the first call counts)."""
        if self.ended:
            return
        self.ended = True
        try:
            attrs: dict[str, Any] = {}
            if stream_completed is not None:
                attrs["stream_completed"] = stream_completed
            if self.first_ns:
                attrs["time_to_first_token_ms"] = round((self.first_ns - self.span.t0) / 1e6, 3)
            if self.response_id:
                attrs["gen_ai.response.id"] = self.response_id
            if self.stop_reason:
                attrs["finish_reason"] = self.stop_reason
            if self.tool_calls:
                attrs["tool_calls"] = ",".join(self.tool_calls)
                attrs["tool_call_count"] = len(self.tool_calls)
            usage = normalize_usage(self.raw_usage, self.thinking) if self.raw_usage else None
            self.span.end(error=error, usage=usage, model=self.model, response_model=self.answered, attributes=attrs,
                          input_content=self.input,
                          output_content="".join(self.texts) if self.capture else None, end_ns=end_ns)
        except Exception:
            warn_once("end", "recording an Anthropic call failed")

    def observe(self, event: Any) -> None:
        """Look at one raw stream event."""
        self.last_ns = time.perf_counter_ns()
        try:
            kind = getattr(event, "type", None)
            if kind == "content_block_delta":
                if not self.first_ns:
                    self.first_ns = self.last_ns
                if self.capture:
                    text = getattr(getattr(event, "delta", None), "text", None)
                    if isinstance(text, str):
                        self.texts.append(text)
            elif kind == "content_block_start":
                if not self.first_ns:
                    self.first_ns = self.last_ns
                block = getattr(event, "content_block", None)
                if getattr(block, "type", None) == "tool_use":
                    self.tool_calls.append(str(getattr(block, "name", "")))
            elif kind == "message_start":
                message = getattr(event, "message", None)
                self.response_id = getattr(message, "id", None)
                self.answered = getattr(message, "model", None) or self.answered
                usage = getattr(message, "usage", None)
                if usage is not None:
                    self.thinking = _merge_usage(self.raw_usage, usage)
            elif kind == "message_delta":
                self.stop_reason = getattr(getattr(event, "delta", None), "stop_reason", None) or self.stop_reason
                usage = getattr(event, "usage", None)
                if usage is not None:
                    self.thinking = _merge_usage(self.raw_usage, usage) or self.thinking
        except Exception:
            warn_once("observe", "reading an Anthropic stream event failed")

    def finish_stream(self, *, error: BaseException | None = None, completed: bool = True,
                      end_ns: int | None = None) -> None:
        """The stream was exhausted, closed, failed or abandoned (see :meth:`end`)."""
        self.end(error=error, stream_completed=completed, end_ns=end_ns)

    def epoch_of_last_event(self) -> int | None:
        """Wall-clock time of the last event (for abandoned streams), as epoch ns."""
        return self.span.start_ns + (self.last_ns - self.span.t0) if self.last_ns else None
