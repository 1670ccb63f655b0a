"""Token usage as OpenAI-compatible providers report it, for every adapter.

OpenAI's chat API says ``prompt_tokens`` / ``completion_tokens``, its Responses API (and most
agent SDKs that copy it) ``input_tokens`` / ``output_tokens``; both nest cached and reasoning
counts in ``*_details``. Frameworks hand these over as SDK objects or as plain dicts. One reader
for all of them keeps every adapter counting the same way.
"""

from __future__ import annotations

from typing import Any

from llamonitor.schema.events import TokenUsage

__all__ = ["field", "usage_from"]


def field(obj: Any, key: str) -> Any:
    """``obj[key]`` for a dict, ``obj.key`` otherwise; ``None`` when absent (or ``obj`` is ``None``)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_from(raw: Any, source: str = "provider") -> TokenUsage | None:
    """:class:`TokenUsage` from an OpenAI-style usage object or dict; ``None`` when it has no counts.

    Reads either naming (``prompt_tokens`` / ``input_tokens``, ``completion_tokens`` /
    ``output_tokens``), ``total_tokens`` (else input + output), cached and cache-write input
    tokens from ``prompt_tokens_details`` / ``input_tokens_details``, reasoning tokens from
    ``completion_tokens_details`` / ``output_tokens_details``.
    """
    if raw is None:
        return None
    inp = _int(field(raw, "prompt_tokens"))
    if inp is None:
        inp = _int(field(raw, "input_tokens"))
    out = _int(field(raw, "completion_tokens"))
    if out is None:
        out = _int(field(raw, "output_tokens"))
    if inp is None and out is None:
        return None
    total = _int(field(raw, "total_tokens"))
    in_details = field(raw, "prompt_tokens_details") or field(raw, "input_tokens_details")
    out_details = field(raw, "completion_tokens_details") or field(raw, "output_tokens_details")
    cached = _int(field(in_details, "cached_tokens"))
    written = _int(field(in_details, "cache_write_tokens"))
    reasoning = _int(field(out_details, "reasoning_tokens"))
    return TokenUsage(input_tokens=inp, output_tokens=out,
                      total_tokens=total if total is not None else (inp or 0) + (out or 0),
                      cached_input_tokens=cached or None, cache_creation_input_tokens=written or None,
                      reasoning_tokens=reasoning or None, source=source)
