"""The collector extension point: ``MetricCollector`` and ``CollectorRegistry``.

Collectors run in the background worker, never in the caller: they receive references to the
call's arguments and result and return a dict that is merged into the event. Recognised keys:

- ``"text_metrics"`` / ``"image_metrics"`` / ``"usage"`` / ``"cost"``: a dataclass from
  :mod:`llamonitor.schema.events` or a dict of its fields;
- ``"custom_attributes"``: a dict merged into the event's custom attributes;
- ``"model"`` / ``"provider"``: strings, used only when the event has none yet.

An exception raised by a collector is logged once per collector and never reaches the user.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, ClassVar


class MetricCollector(ABC):
    """Base class of every metric collector (built-in and custom).

    ``context`` is a dict with at least: ``operation_name``, ``operation_type``, ``model``
    (``str | None``), ``custom_attributes`` (the decorator's, read-only), ``measurement`` (a
    :class:`llamonitor.measurement.MeasurementConfig`), ``usage`` (a
    :class:`~llamonitor.schema.events.TokenUsage` or ``None``), ``error`` (the exception the
    call raised, or ``None``) and ``event`` (the :class:`MetricEvent` being built; collectors
    run in registration order, so later ones see what earlier ones filled in).
    """

    @abstractmethod
    def collect(self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                context: dict[str, Any]) -> dict[str, Any]:
        """Return the fields this collector contributes to the event."""

    @property
    @abstractmethod
    def metric_type(self) -> str:
        """A short name for what this collector measures (``"text"``, ``"cost"``, ...)."""


class CollectorRegistry:
    """Process-wide mapping of collector names to collector classes.

    ``CollectorRegistry.register("my_custom", MyCollector)`` makes ``"my_custom"`` usable in
    ``@monitor_llm(collectors=[...])``. Instances are created once per name and reused, so a
    collector must be safe to call from the worker thread.
    """

    _classes: ClassVar[dict[str, type[MetricCollector]]] = {}
    _instances: ClassVar[dict[str, MetricCollector]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def register(cls, name: str, collector: type[MetricCollector]) -> None:
        """Register ``collector`` under ``name`` (replacing any earlier registration)."""
        if not isinstance(name, str) or not name:
            raise ValueError("collector name must be a non-empty string")
        if not (isinstance(collector, type) and issubclass(collector, MetricCollector)):
            raise TypeError(
                f"collector {name!r} must be a MetricCollector subclass, got {collector!r}"
            )
        with cls._lock:
            cls._classes[name] = collector
            cls._instances.pop(name, None)

    @classmethod
    def unregister(cls, name: str) -> None:
        """Forget ``name``; unknown names are ignored."""
        with cls._lock:
            cls._classes.pop(name, None)
            cls._instances.pop(name, None)

    @classmethod
    def names(cls) -> list[str]:
        """Registered collector names, built-ins included."""
        _ensure_builtins()
        return sorted(cls._classes)

    @classmethod
    def is_registered(cls, name: str) -> bool:
        """Whether ``name`` is a known collector."""
        _ensure_builtins()
        return name in cls._classes

    @classmethod
    def get(cls, name: str) -> MetricCollector:
        """The shared instance for ``name``; ``KeyError`` naming the known ones otherwise."""
        _ensure_builtins()
        inst = cls._instances.get(name)
        if inst is not None:
            return inst
        with cls._lock:
            inst = cls._instances.get(name)
            if inst is None:
                try:
                    klass = cls._classes[name]
                except KeyError:
                    known = ", ".join(sorted(cls._classes))
                    raise KeyError(f"unknown collector {name!r}; registered: {known}") from None
                inst = klass()
                cls._instances[name] = inst
            return inst


_builtins_loaded = False


def _ensure_builtins() -> None:
    # Built-ins are registered lazily so importing the decorator stays cheap.
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from llamonitor.instrumentation.collectors import register_builtin_collectors

    register_builtin_collectors()
