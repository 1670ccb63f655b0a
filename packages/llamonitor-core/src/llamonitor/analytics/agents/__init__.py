"""Multi-agent workflow intelligence (seed import: ``llmops_monitoring.agent``).

``AgentDetector`` -> agents and operations; ``HandoffAnalyzer`` -> scored handoffs;
``ContextDriftDetector`` -> information lost between agents; ``CoordinationGraphBuilder`` ->
graph, depth, critical path, exports; ``BottleneckDetector`` -> slow agents and what to do;
``CoalitionAnalyzer`` -> teams and their performance; ``classify_agents`` -> each agent's
``AgentType``; ``AgentIntelligenceService`` -> all of it per session, live. Formulas:
``docs/analytics.md``.
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
from llamonitor.analytics.agents.service import AgentIntelligenceService
from llamonitor.analytics.agents.types import AgentType, classify_agents

__all__ = [
    "AgentDetector",
    "AgentIntelligenceService",
    "AgentOperation",
    "AgentProfile",
    "AgentType",
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
    "classify_agents",
    "extract_entities",
    "infer_role",
]
