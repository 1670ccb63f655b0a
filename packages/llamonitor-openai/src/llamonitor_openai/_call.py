"""One recorded OpenAI call: the span, what was observed, and the transparent stream proxies."""

from __future__ import annotations

import time
from typing import Any

from llamonitor.instrumentation.adapter import make_warn_once
from llamonitor.instrumentation.streams import error_attributes, retry_count
from llamonitor.schema.events import TokenUsage
from llamonitor.tracing import Span, start_span

from llamonitor_openai._extract import (
    ResultSummary,
    input_text,
    request_attributes,
    summarize,
    system_text,
    usage_from,
)

PROVIDER = "openai"
#: the adapter's warn-once (keys shared with ``OpenAIAdapter.warn_once``: one logger, one set)
warn_once = make_warn_once("openai")


class Call:
    """State of one ``create()`` call until its event is sent (exactly once)."""

    __slots__ = ("answered", "capture", "ended", "finish_reasons", "first_ns", "hide_usage_chunk", "input", "kind",
                 "last_ns", "model", "response_id", "span", "stream", "texts", "tool_calls", "usage")

    def __init__(self, kind: str, kwargs: dict[str, Any], capture: bool, stream: bool) -> None:
        model = kwargs.get("model")
        #: the model asked for (the event's ``model``); ``answered``: what the provider says answered
        self.model: str | None = model if isinstance(model, str) else None
        self.answered: str | None = None
        attrs = request_attributes(kwargs)
        if stream:
            attrs["stream"] = True
        self.span: Span = start_span(f"{kind} {self.model}" if self.model else kind, operation_type=kind,
                                     provider=PROVIDER, model=self.model, attributes=attrs, capture_content=capture)
        self.kind = kind
        self.capture = capture
        self.stream = stream
        self.input = input_text(kind, kwargs) if capture else None
        if capture:
            system = system_text(kind, kwargs)
            if system is not None:  # stored only with capture on, through the redactor
                self.span.extra["system_instructions"] = system
        self.hide_usage_chunk = False
        self.ended = False
        self.first_ns = 0
        self.last_ns = 0
        self.response_id: str | None = None
        self.usage: Any = None  # the SDK's usage object, or a TokenUsage for responses
        self.finish_reasons: list[str] = []
        self.tool_calls: list[str] = []
        self.texts: list[str] = []

    # ------------------------------------------------------------------ endings
    def fail(self, exc: BaseException) -> None:
        """The SDK raised: record the error (status code and retries when the SDK exposes them)."""
        self.ended = True
        try:
            self.span.end(error=exc, attributes=error_attributes(exc), input_content=self.input)
        except Exception:
            warn_once("fail", "recording an OpenAI error failed")

    def finish_result(self, result: Any) -> None:
        """A non-streamed result arrived."""
        self._end(summarize(self.kind, result, self.capture))

    def finish_stream(self, *, error: BaseException | None = None, completed: bool = True,
                      end_ns: int | None = None) -> None:
        """The stream was exhausted, closed, failed or abandoned."""
        if self.ended:
            return
        try:
            s = ResultSummary()
            s.model, s.response_id = self.answered, self.response_id
            s.usage = self.usage if isinstance(self.usage, TokenUsage) else usage_from(self.usage)
            s.finish_reasons, s.tool_calls = self.finish_reasons, self.tool_calls
            s.output = "".join(self.texts) if self.capture else None
            extra: dict[str, Any] = {"stream_completed": completed}
            if self.first_ns:
                extra["time_to_first_token_ms"] = round((self.first_ns - self.span.t0) / 1e6, 3)
            self._end(s, error=error, extra=extra, end_ns=end_ns)
        except Exception:
            warn_once("stream-end", "recording an OpenAI stream failed")

    def _end(self, s: ResultSummary, *, error: BaseException | None = None,
             extra: dict[str, Any] | None = None, end_ns: int | None = None) -> None:
        self.ended = True
        attrs: dict[str, Any] = extra or {}
        if s.response_id:
            attrs["gen_ai.response.id"] = s.response_id
        if s.finish_reasons:
            attrs["finish_reason"] = s.finish_reasons[0] if len(s.finish_reasons) == 1 else ",".join(
                s.finish_reasons)
        if s.tool_calls:
            attrs["tool_calls"] = ",".join(s.tool_calls)
            attrs["tool_call_count"] = len(s.tool_calls)
        self.span.end(error=error, usage=s.usage, model=self.model, response_model=s.model, attributes=attrs,
                      input_content=self.input, output_content=s.output, end_ns=end_ns)

    def epoch_of_last_event(self) -> int | None:
        """Wall-clock time of the last chunk (for abandoned streams), as epoch ns."""
        return self.span.start_ns + (self.last_ns - self.span.t0) if self.last_ns else None

    def note_stream_retries(self, stream: Any) -> None:
        """The SDK's retry count of the request that opened ``stream``."""
        try:
            retries = retry_count(getattr(getattr(stream, "response", None), "request", None))
            if retries is not None:
                self.span.attributes["retries"] = retries
        except Exception:
            warn_once("retries", "reading an OpenAI stream's retry count failed")

    # ------------------------------------------------------------------ stream observation
    def observe(self, item: Any) -> bool:
        """Look at one chunk / event; ``False`` means hide it from the caller."""
        now = time.perf_counter_ns()
        if not self.first_ns:
            self.first_ns = now
        self.last_ns = now
        try:
            if self.kind == "responses":
                self._observe_event(item)
                return True
            model = getattr(item, "model", None)
            if model:
                self.answered = model
            if self.response_id is None:
                self.response_id = getattr(item, "id", None)
            choices = getattr(item, "choices", None)
            usage = getattr(item, "usage", None)
            if usage is not None:
                self.usage = usage  # converted when the stream ends
                if not choices and self.hide_usage_chunk:
                    return False
            for choice in choices or ():
                reason = getattr(choice, "finish_reason", None)
                if reason:
                    self.finish_reasons.append(str(reason))
                delta = getattr(choice, "delta", None)
                if delta is None:  # legacy completions
                    if self.capture and isinstance(getattr(choice, "text", None), str):
                        self.texts.append(choice.text)
                    continue
                for call in getattr(delta, "tool_calls", None) or ():
                    name = getattr(getattr(call, "function", None), "name", None)
                    if name:
                        self.tool_calls.append(str(name))
                if self.capture:
                    text = getattr(delta, "content", None)
                    if isinstance(text, str):
                        self.texts.append(text)
        except Exception:
            warn_once("observe", "reading an OpenAI stream chunk failed")
        return True

    def _observe_event(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if kind == "response.output_text.delta":
            if self.capture:
                self.texts.append(str(getattr(event, "delta", "")))
            return
        response = getattr(event, "response", None)
        if response is None:
            return
        self.response_id = getattr(response, "id", None) or self.response_id
        self.answered = getattr(response, "model", None) or self.answered
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            s = summarize("responses", response, False)
            self.usage = s.usage
            self.finish_reasons = s.finish_reasons
            self.tool_calls = s.tool_calls
