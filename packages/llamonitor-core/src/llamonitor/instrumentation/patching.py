"""Patching helpers shared by the SDK adapters (``llamonitor-openai``, ``llamonitor-anthropic``).

``Patcher`` installs wrapt function wrappers on SDK classes and restores the exact original
attributes; :class:`PatchingAdapter` is the adapter contract for SDKs hooked in that way.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

import wrapt

from llamonitor.instrumentation.adapter import Adapter, make_warn_once

__all__ = ["Patcher", "PatchingAdapter", "Target", "call_wrappers", "make_warn_once", "replace_parsed"]

#: (module, class name, method name, wrapper)
Target = tuple[str, str, str, Callable[..., Any]]


class Patcher:
    """Applies wrappers to ``Class.method`` attributes and puts the originals back."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._saved: list[tuple[type, str, Any]] = []

    @property
    def active(self) -> bool:
        """Whether wrappers are installed."""
        return bool(self._saved)

    def apply(self, targets: Sequence[Target]) -> int:
        """Wrap every target that exists; returns how many were wrapped."""
        for module_name, cls_name, method, wrapper in targets:
            try:
                module = importlib.import_module(module_name)
                cls = getattr(module, cls_name)
            except (ImportError, AttributeError):
                continue  # an older / newer SDK without this resource
            if method not in cls.__dict__:
                continue
            original = cls.__dict__[method]
            wrapt.wrap_function_wrapper(cls, method, wrapper)
            self._saved.append((cls, method, original))
        return len(self._saved)

    def restore(self) -> None:
        """Put back the exact attributes that were replaced."""
        while self._saved:
            cls, method, original = self._saved.pop()
            setattr(cls, method, original)


def call_wrappers(begin: Callable[[dict[str, Any]], tuple[Any, dict[str, Any], Any]],
                  complete: Callable[[Any, Any, Any], Any], warn_once: Callable[[str, str], None],
                  sdk: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The sync and async wrapt wrappers of one SDK method, never breaking the user's call.

    ``begin(kwargs)`` starts the record and returns ``(call, kwargs to send, state)``;
    ``complete(call, result, state)`` attaches the result and returns what the caller receives (a
    stream proxy, say). The SDK's exception goes to ``call.fail(exc)`` and is re-raised unchanged;
    a failure of ours is logged once (``warn_once``) and the call goes through untouched.
    """
    from llamonitor import otel_context
    from llamonitor.tracing import is_recording, is_suppressed

    def start(kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any], Any] | None:
        if not is_recording() or is_suppressed():
            return None
        try:
            return begin(kwargs)
        except Exception:
            warn_once("begin", f"starting an {sdk} span failed")
            return None

    def finish(call: Any, result: Any, state: Any) -> Any:
        try:
            return complete(call, result, state)
        except Exception:
            warn_once("complete", f"recording an {sdk} result failed")
            return result

    def expose(call: Any) -> Any:
        """While OpenTelemetry is bridged, the call's span is current during the SDK call, so the
        spans of HTTP instrumentations (httpx...) nest under it; ``None`` otherwise."""
        if not otel_context.is_active():
            return None
        try:
            scope = call.span.activate()
            scope.__enter__()
            return scope
        except Exception:
            warn_once("otel", f"exposing an {sdk} span to OpenTelemetry failed")
            return None

    def unexpose(scope: Any) -> None:
        if scope is not None:
            try:
                scope.__exit__(None, None, None)
            except Exception:
                warn_once("otel", f"exposing an {sdk} span to OpenTelemetry failed")

    def sync_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = start(kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        call, kwargs, state = started
        scope = expose(call)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            unexpose(scope)
            call.fail(exc)
            raise
        unexpose(scope)
        return finish(call, result, state)

    async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = start(kwargs)
        if started is None:
            return await wrapped(*args, **kwargs)
        call, kwargs, state = started
        scope = expose(call)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            unexpose(scope)
            call.fail(exc)
            raise
        unexpose(scope)
        return finish(call, result, state)

    return sync_wrapper, async_wrapper


def replace_parsed(result: Any, parsed: Any, proxy: Any) -> None:
    """Make a raw response's ``parse()`` return ``proxy`` from now on (its per-type parse cache)."""
    cache = getattr(result, "_parsed_by_type", None)
    if isinstance(cache, dict):
        for key, value in list(cache.items()):
            if value is parsed:
                cache[key] = proxy


class PatchingAdapter(Adapter):
    """An adapter that wraps SDK methods: :meth:`targets` lists them, the patcher restores them exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.patcher = Patcher()

    def targets(self) -> Sequence[Target]:
        """The ``(module, class, method, wrapper)`` rows to wrap (those the installed SDK lacks are skipped)."""
        raise NotImplementedError

    def _install(self) -> None:
        with self.patcher.lock:
            self.patcher.apply(self.targets())

    def _uninstall(self) -> None:
        with self.patcher.lock:
            self.patcher.restore()
