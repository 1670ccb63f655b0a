"""Stream proxies and error attributes shared by the SDK adapters (``llamonitor-openai``, ``llamonitor-anthropic``).

A streamed SDK call returns an iterator; the adapters hand the caller a transparent proxy that
shows each item to the adapter's call record and sends the event when the stream ends --
exhausted, failed, closed, left by ``with`` / ``async with``, or abandoned (garbage-collected,
timed at its last item). Everything else (attributes, ``response``, helpers) passes through.
"""

from __future__ import annotations

from typing import Any, Protocol

import wrapt


class StreamCall(Protocol):
    """What a proxy needs from an adapter's record of one streamed call."""

    def observe(self, item: Any) -> bool | None:
        """Look at one item; ``False`` hides it from the caller (any other value shows it)."""

    def finish_stream(self, *, error: BaseException | None = None, completed: bool = True,
                      end_ns: int | None = None) -> None:
        """The stream ended (only the first call counts)."""

    def epoch_of_last_event(self) -> int | None:
        """Wall-clock time of the last item as epoch ns (``None`` before the first)."""


def retry_count(request: Any) -> int | None:
    """The SDK's retry count of ``request`` (its ``x-stainless-retry-count`` header), if it says."""
    try:
        count = getattr(request, "headers", None).get("x-stainless-retry-count")  # type: ignore[union-attr]
        return int(count) if count is not None else None
    except Exception:
        return None


def error_attributes(exc: BaseException) -> dict[str, Any]:
    """Span attributes of an SDK error: its HTTP status and the SDK's retry count, when it says."""
    attrs: dict[str, Any] = {}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        attrs["http.response.status_code"] = status
    retries = retry_count(getattr(getattr(exc, "response", None), "request", None) or getattr(exc, "request", None))
    if retries is not None:
        attrs["retries"] = retries
    return attrs


class _CallProxy(wrapt.ObjectProxy[Any]):
    """A stream proxy's shared part: the call it reports to, and the report if it is never closed."""

    def __init__(self, wrapped: Any, call: StreamCall) -> None:
        super().__init__(wrapped)
        self._self_call = call

    def __del__(self) -> None:
        try:
            call = self._self_call
            call.finish_stream(completed=False, end_ns=call.epoch_of_last_event())
        except Exception:
            pass


class StreamProxy(_CallProxy):
    """Transparent proxy over a sync SDK stream: the event is sent when the stream ends."""

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        call = self._self_call
        while True:
            try:
                item = self.__wrapped__.__next__()
            except StopIteration:
                call.finish_stream()
                raise
            except BaseException as exc:
                call.finish_stream(error=exc, completed=False)
                raise
            if call.observe(item) is not False:
                return item

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_call.finish_stream(completed=False)

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc)
        finally:
            self._self_call.finish_stream(completed=False)


class AsyncStreamProxy(_CallProxy):
    """Transparent proxy over an async SDK stream."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        call = self._self_call
        while True:
            try:
                item = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                call.finish_stream()
                raise
            except BaseException as exc:
                call.finish_stream(error=exc, completed=False)
                raise
            if call.observe(item) is not False:
                return item

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_call.finish_stream(completed=False)

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc)
        finally:
            self._self_call.finish_stream(completed=False)
