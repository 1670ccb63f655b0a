"""Built-in collectors: ``text``, ``image`` and ``cost``."""

from __future__ import annotations


def register_builtin_collectors() -> None:
    """Register the built-in collectors under their seed names (idempotent)."""
    from llamonitor.instrumentation.base import CollectorRegistry
    from llamonitor.instrumentation.collectors.cost import CostCollector
    from llamonitor.instrumentation.collectors.image import ImageCollector
    from llamonitor.instrumentation.collectors.text import TextCollector

    for name, klass in (("text", TextCollector), ("image", ImageCollector), ("cost", CostCollector)):
        if name not in CollectorRegistry._classes:
            CollectorRegistry.register(name, klass)
