"""Seed ``llmops_monitoring.instrumentation.collectors``: the built-in collector classes."""

from __future__ import annotations

from llamonitor.instrumentation.collectors.cost import CostCollector
from llamonitor.instrumentation.collectors.image import ImageCollector
from llamonitor.instrumentation.collectors.text import TextCollector

#: a package: ``collectors.text`` / ``.image`` / ``.cost`` resolve to llamonitor's modules
__path__: list[str] = []

__all__ = ["CostCollector", "ImageCollector", "TextCollector"]
