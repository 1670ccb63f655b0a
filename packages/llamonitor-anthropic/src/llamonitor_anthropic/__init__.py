"""One-line llamonitor instrumentation for the Anthropic Python SDK.

::

    from llamonitor_anthropic import instrument_anthropic
    instrument_anthropic()       # every Anthropic / AsyncAnthropic client, from now on

Each ``messages.create()`` call (sync or async, streamed or not), each ``messages.stream()``
block and ``messages.parse()`` becomes one LLM event with the model, token usage (cache reads
and writes included in ``input_tokens``, as llamonitor's OpenAI-style convention wants), cost,
stop reason, tool calls requested, time to first token for streams and the error type of
failures. The beta ``client.beta.messages`` resource is instrumented the same way. The SDK's
own retries happen inside one call, so they produce one event.

The SDK is imported only when :func:`instrument_anthropic` is called.
"""

from __future__ import annotations

import inspect
from typing import Any

import wrapt
from llamonitor.instrumentation.adapter import InstrumentOptions
from llamonitor.instrumentation.patching import PatchingAdapter, Target, call_wrappers, replace_parsed
from llamonitor.instrumentation.streams import AsyncStreamProxy, StreamProxy
from llamonitor.tracing import is_recording, is_suppressed

from llamonitor_anthropic._call import Call, normalize_usage, warn_once

__all__ = ["AnthropicAdapter", "InstrumentOptions", "instrument_anthropic", "is_instrumented", "normalize_usage",
           "uninstrument_anthropic"]
__version__ = "0.1.0"

_RAW_HEADER = "X-Stainless-Raw-Response"


def _complete(call: Call, result: Any, kwargs: dict[str, Any]) -> Any:
    headers = kwargs.get("extra_headers")
    raw = headers.get(_RAW_HEADER) if isinstance(headers, dict) else None
    if raw is not None:
        parse = getattr(result, "parse", None)
        if raw == "stream" or parse is None or inspect.iscoroutinefunction(parse):
            call.span.set_attribute("usage_unavailable", "streaming_response")
            call.end()
            return result
        parsed = parse()
        if kwargs.get("stream") is not True:
            call.finish_result(parsed)
            return result
        proxy = _wrap_stream(call, parsed)
        replace_parsed(result, parsed, proxy)
        return result
    if kwargs.get("stream") is True:
        return _wrap_stream(call, result)
    call.finish_result(result)
    return result


def _wrap_stream(call: Call, stream: Any) -> Any:
    if hasattr(stream, "__anext__"):
        return AsyncStreamProxy(stream, call)
    return StreamProxy(stream, call)


def _begin(kwargs: dict[str, Any]) -> tuple[Call, dict[str, Any], dict[str, Any]]:
    return Call(kwargs, _adapter.capture(), kwargs.get("stream") is True), kwargs, kwargs


_sync_create, _async_create = call_wrappers(_begin, _complete, warn_once, "Anthropic")


class _ManagerProxy(wrapt.ObjectProxy[Any]):
    """Wraps ``MessageStreamManager``: the request happens (and the span starts) on enter."""

    def __init__(self, wrapped: Any, kwargs: dict[str, Any], capture: bool) -> None:
        super().__init__(wrapped)
        self._self_kwargs = kwargs
        self._self_capture = capture

    def _start(self) -> Call | None:
        try:
            return Call(self._self_kwargs, self._self_capture, True) if is_recording() else None
        except Exception:
            warn_once("begin", "starting an Anthropic span failed")
            return None

    @staticmethod
    def _attach(call: Call, stream: Any) -> None:
        try:
            raw = stream._raw_stream
            stream._raw_stream = (AsyncStreamProxy if hasattr(raw, "__anext__") else StreamProxy)(raw, call)
        except Exception:
            warn_once("attach", "observing an Anthropic message stream failed")

    def __enter__(self) -> Any:
        call = self._start()
        if call is None:
            return self.__wrapped__.__enter__()
        try:
            stream = self.__wrapped__.__enter__()
        except BaseException as exc:
            call.fail(exc)
            raise
        self._attach(call, stream)
        return stream

    def __exit__(self, *exc: Any) -> Any:
        return self.__wrapped__.__exit__(*exc)

    async def __aenter__(self) -> Any:
        call = self._start()
        if call is None:
            return await self.__wrapped__.__aenter__()
        try:
            stream = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            call.fail(exc)
            raise
        self._attach(call, stream)
        return stream

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.__wrapped__.__aexit__(*exc)


def _stream_helper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    manager = wrapped(*args, **kwargs)
    if is_suppressed():
        return manager
    try:
        return _ManagerProxy(manager, kwargs, _adapter.capture())
    except Exception:
        warn_once("stream", "wrapping an Anthropic stream manager failed")
        return manager


class AnthropicAdapter(PatchingAdapter):
    """Wraps ``messages.create`` / ``parse`` / ``stream`` (and the beta resource's)."""

    name = "anthropic"
    framework = "anthropic"
    distribution = "anthropic"
    module = "anthropic"
    install_hint = "pip install 'llamonitor-anthropic[anthropic]'"

    def targets(self) -> list[Target]:
        targets: list[Target] = []
        for module in ("anthropic.resources.messages.messages", "anthropic.resources.beta.messages.messages"):
            for method in ("create", "parse"):
                targets.append((module, "Messages", method, _sync_create))
                targets.append((module, "AsyncMessages", method, _async_create))
            targets.append((module, "Messages", "stream", _stream_helper))
            targets.append((module, "AsyncMessages", "stream", _stream_helper))
        return targets


_adapter = AnthropicAdapter()
#: Record every Anthropic SDK ``messages`` call as a llamonitor event (``capture_content=None``
#: follows ``MonitorConfig.capture_content``). Idempotent: ``True`` when this call patched the SDK.
instrument_anthropic = _adapter.instrument
#: Remove the instrumentation, restoring the SDK's original methods exactly.
uninstrument_anthropic = _adapter.uninstrument
#: Whether :func:`instrument_anthropic` is in effect.
is_instrumented = _adapter.is_instrumented
