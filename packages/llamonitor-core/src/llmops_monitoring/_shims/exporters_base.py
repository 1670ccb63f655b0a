"""Seed ``llmops_monitoring.exporters.base``: the exporter base class and a name registry.

In llamonitor an exporter is a sink like a storage backend: it receives every written batch.
``MetricsExporter`` is that base class; ``ExporterRegistry`` maps names to exporter classes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from llamonitor.exporters._common import ExporterSink

#: seed name of the exporter base class
MetricsExporter = ExporterSink


class ExporterRegistry:
    """Exporter classes by name (``register("my", MyExporter)``, ``get("my")``)."""

    _exporters: ClassVar[dict[str, type[Any]]] = {}

    @classmethod
    def register(cls, name: str, exporter_class: type[Any]) -> None:
        """Register ``exporter_class`` under ``name`` (replacing an earlier one)."""
        cls._exporters[name] = exporter_class

    @classmethod
    def get(cls, name: str) -> type[Any] | None:
        """The class registered as ``name``, or ``None``."""
        return cls._exporters.get(name)

    @classmethod
    def list_exporters(cls) -> list[str]:
        """Registered names."""
        return sorted(cls._exporters)


__all__ = ["ExporterRegistry", "MetricsExporter"]
