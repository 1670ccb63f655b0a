"""Seed ``llmops_monitoring.exporters``: :mod:`llamonitor.exporters` plus the seed's package names
(``MetricsExporter``, ``ExporterRegistry``, ``PrometheusExporter``, ``DatadogExporter``; an
exporter whose library is not installed is ``None``, as in the seed)."""

from __future__ import annotations

from typing import Any

import llamonitor.exporters as _real

from llmops_monitoring._shims.exporters_base import ExporterRegistry, MetricsExporter

#: a package: ``exporters.base`` / ``.prometheus`` / ``.datadog`` resolve through the alias
__path__: list[str] = []

PrometheusExporter: Any
DatadogExporter: Any
try:
    from llamonitor.exporters.prometheus import PrometheusExporter
except ImportError:  # the optional library is missing
    PrometheusExporter = None
try:
    from llamonitor.exporters.datadog import DatadogExporter
except ImportError:
    DatadogExporter = None

__all__ = ["DatadogExporter", "ExporterRegistry", "MetricsExporter", "PrometheusExporter"]


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
