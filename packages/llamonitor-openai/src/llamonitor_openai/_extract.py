"""Read usage, model, finish reasons, tool calls and content from OpenAI SDK objects.

Everything here reads attributes defensively (``getattr`` with defaults) so that an SDK
version with a different shape yields less data, never an exception in the caller.
"""

from __future__ import annotations

import json
from typing import Any

from llamonitor.schema.events import TokenUsage

#: request parameters copied to event attributes (OpenTelemetry GenAI names)
REQUEST_PARAMS: dict[str, str] = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
    "reasoning_effort": "gen_ai.request.reasoning_effort",
    "service_tier": "gen_ai.request.service_tier",
    "dimensions": "gen_ai.request.embedding.dimensions",
}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_from(u: Any) -> TokenUsage | None:
    """A provider ``usage`` object (chat, legacy, embeddings or responses shape) as TokenUsage."""
    if u is None:
        return None
    inp = _int(getattr(u, "prompt_tokens", None))
    if inp is None:
        inp = _int(getattr(u, "input_tokens", None))
    out = _int(getattr(u, "completion_tokens", None))
    if out is None:
        out = _int(getattr(u, "output_tokens", None))
    in_details = getattr(u, "prompt_tokens_details", None) or getattr(u, "input_tokens_details", None)
    out_details = getattr(u, "completion_tokens_details", None) or getattr(u, "output_tokens_details", None)
    total = _int(getattr(u, "total_tokens", None))
    if out is None and inp is not None:  # embeddings report no output tokens
        out = 0
    return TokenUsage(
        input_tokens=inp,
        output_tokens=out,
        total_tokens=total if total is not None else ((inp or 0) + (out or 0)),
        cached_input_tokens=_int(getattr(in_details, "cached_tokens", None)) or None,
        cache_creation_input_tokens=_int(getattr(in_details, "cache_write_tokens", None)) or None,
        reasoning_tokens=_int(getattr(out_details, "reasoning_tokens", None)) or None,
        source="provider",
    )


def request_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Scalar request parameters the caller set (``NOT_GIVEN`` / ``omit`` skipped)."""
    attrs: dict[str, Any] = {}
    for key, value in kwargs.items():
        name = REQUEST_PARAMS.get(key)
        if name is not None and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            attrs[name] = value
    return attrs


def input_text(kind: str, kwargs: dict[str, Any]) -> str | None:
    """The prompt as text, for content capture."""
    if kind == "chat":
        parts = []
        for m in kwargs.get("messages") or ():
            if isinstance(m, dict):
                content = m.get("content")
                text = content if isinstance(content, str) else json.dumps(content, default=str)
                parts.append(f"{m.get('role', '')}: {text}")
        return "\n".join(parts)
    if kind == "responses":
        inp, instr = kwargs.get("input"), kwargs.get("instructions")
        text = inp if isinstance(inp, str) else json.dumps(inp, default=str) if inp is not None else ""
        return f"{instr}\n{text}" if isinstance(instr, str) else text
    value = kwargs.get("prompt") if kind == "text_completion" else kwargs.get("input")
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


_SYSTEM_ROLES = ("system", "developer")


def _part_text(content: Any) -> str | None:
    """A message's content as text: a string, or the text of its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        joined = "\n".join(t for t in texts if isinstance(t, str))
        return joined or None
    return None


def system_text(kind: str, kwargs: dict[str, Any]) -> str | None:
    """The system prompt of a request (``system`` / ``developer`` messages, the Responses API's
    ``instructions``), for content capture; ``None`` when it has none."""
    parts: list[str] = []
    if kind == "responses":
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str) and instructions:
            parts.append(instructions)
        messages = kwargs.get("input")
    elif kind == "chat":
        messages = kwargs.get("messages")
    else:
        return None
    if isinstance(messages, (list, tuple)):
        for m in messages:
            if isinstance(m, dict) and m.get("role") in _SYSTEM_ROLES:
                text = _part_text(m.get("content"))
                if text:
                    parts.append(text)
    return "\n".join(parts) if parts else None


class ResultSummary:
    """What an event needs from a finished (non-streamed) response."""

    __slots__ = ("finish_reasons", "model", "output", "response_id", "tool_calls", "usage")

    def __init__(self) -> None:
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: TokenUsage | None = None
        self.finish_reasons: list[str] = []
        self.tool_calls: list[str] = []
        self.output: str | None = None


def summarize(kind: str, result: Any, capture: bool) -> ResultSummary:
    """Summarise a ChatCompletion / Completion / CreateEmbeddingResponse / Response."""
    s = ResultSummary()
    s.model = getattr(result, "model", None)
    s.response_id = getattr(result, "id", None)
    s.usage = usage_from(getattr(result, "usage", None))
    if kind == "responses":
        status = getattr(result, "status", None)
        details = getattr(result, "incomplete_details", None)
        reason = getattr(details, "reason", None) or status
        if reason:
            s.finish_reasons.append(str(reason))
        for item in getattr(result, "output", None) or ():
            if getattr(item, "type", None) == "function_call":
                s.tool_calls.append(str(getattr(item, "name", "")))
        if capture:
            s.output = getattr(result, "output_text", None)
        return s
    texts: list[str] = []
    for choice in getattr(result, "choices", None) or ():
        reason = getattr(choice, "finish_reason", None)
        if reason:
            s.finish_reasons.append(str(reason))
        message = getattr(choice, "message", None)
        for call in getattr(message, "tool_calls", None) or ():
            fn = getattr(call, "function", None)
            s.tool_calls.append(str(getattr(fn, "name", "")))
        if capture:
            text = getattr(message, "content", None) if message is not None else getattr(choice, "text", None)
            if isinstance(text, str):
                texts.append(text)
    if kind == "embeddings":
        data = getattr(result, "data", None)
        if data is not None:
            s.finish_reasons = []
            s.output = None
    if texts:
        s.output = "\n".join(texts)
    return s
