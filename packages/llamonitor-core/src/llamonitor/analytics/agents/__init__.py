"""Multi-agent workflow intelligence (seed import: ``llmops_monitoring.agent``).

``AgentDetector`` -> agents and operations; ``HandoffAnalyzer`` -> scored handoffs;
``ContextDriftDetector`` -> information lost between agents; ``CoordinationGraphBuilder`` ->
graph, depth, critical path, exports; ``BottleneckDetector`` -> slow agents and what to do;
``CoalitionAnalyzer`` -> teams and their performance. Formulas: ``docs/analytics.md``.
"""

from __future__ import annotations

from llamonitor.analytics.agents.bottlenecks import BottleneckDetector
from llamonitor.analytics.agents.coalitions import CoalitionAnalyzer
from llamonitor.analytics.agents.detection import AgentDetector, infer_role
from llamonitor.analytics.agents.drift import ContextDriftDetector, extract_entities
from llamonitor.analytics.agents.graph import CoordinationGraphBuilder
from llamonitor.analytics.agents.handoffs import HandoffAnalyzer
from llamonitor.analytics.agents.models import (
    AgentOperation,
    AgentProfile,
    Bottleneck,
    BottleneckSeverity,
    Coalition,
    CoordinationGraph,
    DriftAnalysis,
    Entity,
    GraphEdge,
    GraphNode,
    Handoff,
    HandoffKind,
    HandoffQuality,
    IdentitySource,
)

__all__ = [
    "AgentDetector",
    "AgentOperation",
    "AgentProfile",
    "Bottleneck",
    "BottleneckDetector",
    "BottleneckSeverity",
    "Coalition",
    "CoalitionAnalyzer",
    "ContextDriftDetector",
    "CoordinationGraph",
    "CoordinationGraphBuilder",
    "DriftAnalysis",
    "Entity",
    "GraphEdge",
    "GraphNode",
    "Handoff",
    "HandoffAnalyzer",
    "HandoffKind",
    "HandoffQuality",
    "IdentitySource",
    "extract_entities",
    "infer_role",
]
