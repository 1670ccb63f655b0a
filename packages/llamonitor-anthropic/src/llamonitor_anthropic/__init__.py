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
from llamonitor import get_writer
from llamonitor.instrumentation.patching import call_wrappers, replace_parsed
from llamonitor.instrumentation.streams import AsyncStreamProxy, StreamProxy
from llamonitor.tracing import is_recording, is_suppressed

from llamonitor_anthropic._call import Call, normalize_usage
from llamonitor_anthropic._patching import Patcher, Target, warn_once

__all__ = ["instrument_anthropic", "is_instrumented", "normalize_usage", "uninstrument_anthropic"]
__version__ = "0.1.0"

_RAW_HEADER = "X-Stainless-Raw-Response"
_patcher = Patcher()
_capture_option: list[bool | None] = [None]


def _capture() -> bool:
    forced = _capture_option[0]
    if forced is not None:
        return forced
    writer = get_writer()
    return writer is not None and writer.config.capture_content is True


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
    return Call(kwargs, _capture(), kwargs.get("stream") is True), kwargs, kwargs


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
        return _ManagerProxy(manager, kwargs, _capture())
    except Exception:
        warn_once("stream", "wrapping an Anthropic stream manager failed")
        return manager


def _targets() -> list[Target]:
    targets: list[Target] = []
    for module in ("anthropic.resources.messages.messages", "anthropic.resources.beta.messages.messages"):
        for method in ("create", "parse"):
            targets.append((module, "Messages", method, _sync_create))
            targets.append((module, "AsyncMessages", method, _async_create))
        targets.append((module, "Messages", "stream", _stream_helper))
        targets.append((module, "AsyncMessages", "stream", _stream_helper))
    return targets


def instrument_anthropic(*, capture_content: bool | None = None) -> bool:
    """Record every Anthropic SDK ``messages`` call as a llamonitor event.

    ``capture_content``: ``None`` follows ``MonitorConfig.capture_content``; ``True`` / ``False``
    force it for Anthropic calls (the config's ``content_redactor`` applies).

    Idempotent and thread-safe: a second call only updates the option and returns ``False``.
    Returns ``True`` when the SDK was patched by this call. Raises ``ImportError`` naming the extra
    to install when the ``anthropic`` package is missing.
    """
    with _patcher.lock:
        _capture_option[0] = capture_content
        return _patcher.install("anthropic", "pip install 'llamonitor-anthropic[anthropic]'", _targets)


def uninstrument_anthropic() -> None:
    """Remove the instrumentation, restoring the SDK's original methods exactly."""
    with _patcher.lock:
        _patcher.restore()


def is_instrumented() -> bool:
    """Whether :func:`instrument_anthropic` is in effect."""
    return _patcher.active
