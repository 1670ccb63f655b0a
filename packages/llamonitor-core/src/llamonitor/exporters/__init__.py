"""Exporters (Prometheus, Datadog, OTLP, WebSocket feed) configured through ``config.extensions``.

Each exporter is a sink like a storage backend: ``prometheus``
(:mod:`llamonitor.exporters.prometheus`), ``datadog`` (:mod:`llamonitor.exporters.datadog`) and
``otlp`` (:mod:`llamonitor.exporters.otlp`). Exporters count their failures instead of raising
(see :mod:`llamonitor.exporters._common`). Extensions that this version does not provide are
reported once, by name, instead of being ignored silently.
"""

from __future__ import annotations

import logging
from typing import Any

from llamonitor.schema.config import MonitorConfig

logger = logging.getLogger("llamonitor")

#: extension name -> (module, factory) of exporters shipped with core
_EXPORTERS: dict[str, tuple[str, str]] = {
    "prometheus": ("llamonitor.exporters.prometheus", "create_prometheus_exporter"),
    "datadog": ("llamonitor.exporters.datadog", "create_datadog_exporter"),
    "otlp": ("llamonitor.exporters.otlp", "create_otlp_exporter"),
}


#: extensions read by other parts of llamonitor, not exporters (the API serves the live feed)
_NOT_EXPORTERS = frozenset({"websocket", "api"})


def create_exporters(config: MonitorConfig) -> list[Any]:
    """Build the exporter sinks enabled in ``config.extensions``."""
    sinks: list[Any] = []
    for name, settings in config.extensions.items():
        enabled = settings.get("enabled", True) if isinstance(settings, dict) else True
        if not enabled:
            continue
        if name in _NOT_EXPORTERS:
            continue
        if name not in _EXPORTERS:
            logger.warning("llamonitor: extension %r is configured but not available in this version; "
                           "it is ignored", name)
            continue
        import importlib

        module_name, factory_name = _EXPORTERS[name]
        factory = getattr(importlib.import_module(module_name), factory_name)
        sinks.append(factory(config, settings))
    return sinks
