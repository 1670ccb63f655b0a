"""Code topology: the structure of a Python code base, and which of its functions spend the tokens.

``CodeParser`` reads source files with :mod:`ast` (nothing is imported or run) ->
``DependencyGraphBuilder`` resolves imports and calls between the scanned modules, finds import
cycles and computes metrics -> ``TopologyVisualizer`` exports D3 / Cytoscape / GraphViz / Sankey
data or a self-contained HTML page -> ``TokenConsumptionCorrelator`` ties recorded events to the
functions that made them. ``PostgresTopologyStorage`` keeps snapshots in PostgreSQL.
Seed import: ``llmops_monitoring.topology``. Definitions: ``docs/topology.md``.
"""

from __future__ import annotations

from llamonitor.analytics.topology.correlator import TokenConsumptionCorrelator, TrackedFunction
from llamonitor.analytics.topology.graph import DependencyGraphBuilder
from llamonitor.analytics.topology.models import (
    CallEdge,
    CircularDependency,
    ClassInfo,
    ComponentUsage,
    DependencyEdge,
    FunctionInfo,
    FunctionType,
    HotspotAnalysis,
    ImportStatement,
    ImportType,
    ModuleInfo,
    RepositoryTopology,
    TokenConsumption,
    TopologyMetrics,
    TopologySnapshot,
)
from llamonitor.analytics.topology.parser import CodeParser
from llamonitor.analytics.topology.visualizer import TopologyVisualizer

__all__ = [
    "CallEdge",
    "CircularDependency",
    "ClassInfo",
    "CodeParser",
    "ComponentUsage",
    "DependencyEdge",
    "DependencyGraphBuilder",
    "FunctionInfo",
    "FunctionType",
    "HotspotAnalysis",
    "ImportStatement",
    "ImportType",
    "ModuleInfo",
    "RepositoryTopology",
    "TokenConsumption",
    "TokenConsumptionCorrelator",
    "TopologyMetrics",
    "TopologySnapshot",
    "TopologyVisualizer",
    "TrackedFunction",
    "scan_repository",
]


def scan_repository(path: str, include_patterns: list[str] | None = None,
                    exclude_patterns: list[str] | None = None) -> RepositoryTopology:
    """Parse ``path`` and build its topology in one call."""
    modules = CodeParser().parse_repository(path, include_patterns, exclude_patterns)
    return DependencyGraphBuilder().build_repository_topology(modules, repository_path=str(path))
