"""``llmops_monitoring``: the seed project's import name, kept as an alias of :mod:`llamonitor`.

Nothing is copied: ``import llmops_monitoring.schema.config`` returns the very module object
``llamonitor.schema.config`` (an import hook maps names), so classes, registries and state are
shared. Seed paths that moved in llamonitor are mapped by :data:`RENAMED` (the longest matching
prefix wins); seed names llamonitor spells differently live in small shim modules under
``llmops_monitoring._shims``. See ``docs/seed-compatibility.md``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

#: seed module path (below ``llmops_monitoring``) -> llamonitor module, where they differ
_SHIMS = "llmops_monitoring._shims"
RENAMED: dict[str, str] = {
    "instrumentation.context": "llamonitor.context",
    "instrumentation.decorators": "llamonitor.instrumentation.decorators",
    "instrumentation.collectors": f"{_SHIMS}.collectors",
    "transport": f"{_SHIMS}.transport",
    "transport.writer": f"{_SHIMS}.writer",
    "transport.backends": "llamonitor.backends",
    "transport.backends.query_base": f"{_SHIMS}.aggregation",
    "transport.backends.parquet_query": "llamonitor.query.parquet",
    "transport.backends.postgres_query": "llamonitor.query.sql",
    "transport.backends.mysql_query": "llamonitor.query.sql",
    "transport.backends.clickhouse_query": "llamonitor.query.sql",
    "transport.backends.postgres_agent_storage": "llamonitor.backends.postgres",
    "transport.backends.postgres_topology_storage": "llamonitor.analytics.topology.storage",
    "anomaly": f"{_SHIMS}.anomaly",
    "anomaly.detector": "llamonitor.analytics.anomaly",
    "anomaly.service": f"{_SHIMS}.anomaly",
    "agent": f"{_SHIMS}.agent_base",
    "agent.analyzer": "llamonitor.analytics.agents.coalitions",
    "agent.base": f"{_SHIMS}.agent_base",
    "agent.bottleneck": "llamonitor.analytics.agents.bottlenecks",
    "agent.context_drift": "llamonitor.analytics.agents.drift",
    "agent.detector": "llamonitor.analytics.agents.detection",
    "agent.graph": "llamonitor.analytics.agents.graph",
    "agent.handoff": "llamonitor.analytics.agents.handoffs",
    "agent.service": "llamonitor.analytics.agents.service",
    "aggregation": f"{_SHIMS}.aggregation",
    "aggregation.service": f"{_SHIMS}.aggregation",
    "api.server": "llamonitor.api.app",
    "api.models": "llamonitor.query.types",
    "api.graphql_resolvers": "llamonitor.api.graphql_schema",
    "exporters": f"{_SHIMS}.exporters",
    "exporters.base": f"{_SHIMS}.exporters_base",
    "measurement": f"{_SHIMS}.measurement",
    "measurement.base": f"{_SHIMS}.measurement",
    "measurement.resolver": f"{_SHIMS}.measurement",
    "measurement.strategies": f"{_SHIMS}.strategies",
    "measurement.strategies.capacity": f"{_SHIMS}.strategies",
    "measurement.strategies.token": f"{_SHIMS}.strategies",
    "measurement.strategies.hybrid": f"{_SHIMS}.strategies",
    "streaming": f"{_SHIMS}.streaming",
    "streaming.broadcaster": f"{_SHIMS}.streaming",
    "streaming.connection_manager": f"{_SHIMS}.streaming",
    "topology": "llamonitor.analytics.topology",
    "utils": f"{_SHIMS}.utils",
    "utils.logging_config": f"{_SHIMS}.logging_config",
    # not a seed path: kept because llamonitor 0.1 documented it
    "storage": "llamonitor.backends",
}
_PREFIX = __name__ + "."


def _target(fullname: str) -> str:
    rest = fullname[len(_PREFIX):]
    if rest in RENAMED:
        return RENAMED[rest]
    parts = rest.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # a renamed package's submodules follow it
        head = ".".join(parts[:cut])
        if head in RENAMED and not RENAMED[head].startswith(_SHIMS):
            return ".".join((RENAMED[head], *parts[cut:]))
    return "llamonitor." + rest


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        # The target module is already executed; it is shared, not re-run.
        return None


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_PREFIX) or fullname.startswith(_PREFIX + "_"):
            return None  # private modules of this package (the shims) are real files
        real = _target(fullname)
        if importlib.util.find_spec(real) is None:
            return None
        module = importlib.import_module(real)
        is_pkg = hasattr(module, "__path__")
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real), is_package=is_pkg)


if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())

from llamonitor import *  # noqa: E402,F403
from llamonitor import __all__ as _all  # noqa: E402
from llamonitor import __version__  # noqa: E402,F401
from llamonitor.transport.worker import MonitoringWriter  # noqa: E402

__all__ = [*_all, "MonitoringWriter"]
