"""One-line llamonitor instrumentation for the OpenAI Python SDK.

::

    from llamonitor_openai import instrument_openai
    instrument_openai()          # every OpenAI / AsyncOpenAI client, from now on

Each ``create()`` call (chat completions, responses, embeddings, legacy completions; sync and
async; streamed or not; the ``.stream()`` helpers and ``with_raw_response``) becomes one LLM
event with the model, token usage as OpenAI reported it, cost, finish reason, tool calls
requested, time to first token for streams and the error type of failures. The SDK's own
retries happen inside one ``create()`` call, so they produce one event (with ``retries`` in the
attributes when the SDK exposes the count).

The SDK is imported only when :func:`instrument_openai` is called.
"""

from __future__ import annotations

import inspect
from typing import Any

from llamonitor.instrumentation.adapter import InstrumentOptions
from llamonitor.instrumentation.patching import PatchingAdapter, Target, call_wrappers, replace_parsed
from llamonitor.instrumentation.streams import AsyncStreamProxy, StreamProxy

from llamonitor_openai._call import Call, warn_once

__all__ = ["InstrumentOptions", "OpenAIAdapter", "instrument_openai", "is_instrumented", "uninstrument_openai"]
__version__ = "0.1.0"

_RAW_HEADER = "X-Stainless-Raw-Response"


def _begin(kind: str, kwargs: dict[str, Any]) -> tuple[Call, dict[str, Any], str | None]:
    stream = kwargs.get("stream") is True
    call = Call(kind, kwargs, _adapter.capture(), stream)
    headers = kwargs.get("extra_headers")
    raw = headers.get(_RAW_HEADER) if isinstance(headers, dict) else None
    if stream and kind in ("chat", "text_completion") and _adapter.ensure_stream_usage:
        opts = kwargs.get("stream_options")
        if not isinstance(opts, dict) or "include_usage" not in opts:
            kwargs = dict(kwargs)
            kwargs["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
            call.hide_usage_chunk = True
    return call, kwargs, raw


def _complete(call: Call, result: Any, raw: str | None) -> Any:
    """Attach the result to the call; returns what the caller receives (maybe a stream proxy)."""
    if raw is None:
        if call.stream:
            return _wrap_stream(call, result)
        call.finish_result(result)
        return result
    parse = getattr(result, "parse", None)
    if raw == "stream" or parse is None or inspect.iscoroutinefunction(parse):
        # with_streaming_response: the body is read later by the caller
        call.span.set_attribute("usage_unavailable", "streaming_response")
        call.finish_result(None)
        return result
    # with_raw_response: LegacyAPIResponse; parse() caches its result per type.
    retries = getattr(result, "retries_taken", None)
    if isinstance(retries, int):
        call.span.set_attribute("retries", retries)
    parsed = parse()
    if not call.stream:
        call.finish_result(parsed)
        return result
    proxy = _wrap_stream(call, parsed)
    replace_parsed(result, parsed, proxy)
    return result


def _wrap_stream(call: Call, stream: Any) -> Any:
    if hasattr(stream, "__anext__") or hasattr(stream, "__next__"):
        call.note_stream_retries(stream)
    if hasattr(stream, "__anext__"):
        return AsyncStreamProxy(stream, call)
    if hasattr(stream, "__next__"):
        return StreamProxy(stream, call)
    call.finish_result(stream)
    return stream


def _wrappers(kind: str) -> tuple[Any, Any]:
    """The sync and async wrappers of one OpenAI method of kind ``kind``."""
    return call_wrappers(lambda kwargs: _begin(kind, kwargs), _complete, warn_once, "OpenAI")


class OpenAIAdapter(PatchingAdapter):
    """Wraps the SDK's ``create`` / ``parse`` methods (chat, responses, embeddings, completions)."""

    name = "openai"
    framework = "openai"
    distribution = "openai"
    module = "openai"
    install_hint = "pip install 'llamonitor-openai[openai]'"

    def __init__(self) -> None:
        super().__init__()
        self.ensure_stream_usage = True

    def instrument(self, options: InstrumentOptions | None = None, *, capture_content: bool | None = None,
                   ensure_stream_usage: bool = True) -> bool:
        """Record every OpenAI SDK call as a llamonitor event.

        ``capture_content``: ``None`` follows ``MonitorConfig.capture_content``; ``True`` / ``False``
        force it for OpenAI calls (the config's ``content_redactor`` applies). ``ensure_stream_usage``
        adds ``stream_options={"include_usage": True}`` to streamed chat / legacy completions that did
        not set it, and hides the extra usage-only chunk from the caller.

        Idempotent and thread-safe: a second call only updates the options and returns ``False``.
        Returns ``True`` when the SDK was patched by this call. Raises ``ImportError`` naming the extra
        to install when the ``openai`` package is missing.
        """
        with self.lock:
            self.ensure_stream_usage = ensure_stream_usage
            return super().instrument(options, capture_content=capture_content)

    def targets(self) -> list[Target]:
        chat = "openai.resources.chat.completions.completions"
        responses = "openai.resources.responses.responses"
        targets: list[Target] = []
        for module, sync_cls, async_cls, methods, kind in (
            (chat, "Completions", "AsyncCompletions", ("create", "parse"), "chat"),
            (responses, "Responses", "AsyncResponses", ("create", "parse"), "responses"),
            ("openai.resources.embeddings", "Embeddings", "AsyncEmbeddings", ("create",), "embeddings"),
            ("openai.resources.completions", "Completions", "AsyncCompletions", ("create",), "text_completion"),
        ):
            for method in methods:
                sync_wrapper, async_wrapper = _wrappers(kind)
                targets.append((module, sync_cls, method, sync_wrapper))
                targets.append((module, async_cls, method, async_wrapper))
        return targets


_adapter = OpenAIAdapter()
#: Record every OpenAI SDK call as a llamonitor event (see :meth:`OpenAIAdapter.instrument`).
instrument_openai = _adapter.instrument
#: Remove the instrumentation, restoring the SDK's original methods exactly.
uninstrument_openai = _adapter.uninstrument
#: Whether :func:`instrument_openai` is in effect.
is_instrumented = _adapter.is_instrumented
