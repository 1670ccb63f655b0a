"""Every analysis in one call, for ``llamonitor analyze`` and notebooks.

``run_analysis(events)`` returns an :class:`AnalysisReport`: agents, operations, handoffs and
their statistics, drift, the coordination graph, bottlenecks (every agent's score), coalitions
with their ratings, and anomalies (baselines trained on the same events: outliers within them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llamonitor.analytics.agents import (
    AgentDetector,
    BottleneckDetector,
    CoalitionAnalyzer,
    ContextDriftDetector,
    CoordinationGraphBuilder,
    HandoffAnalyzer,
)
from llamonitor.analytics.agents.models import (
    AgentOperation,
    AgentProfile,
    Bottleneck,
    Coalition,
    CoordinationGraph,
    DriftAnalysis,
    Handoff,
)
from llamonitor.analytics.anomaly import AnomalyDetectionService, AnomalyResult
from llamonitor.schema.events import MetricEvent


@dataclass
class AnalysisReport:
    """Results of :func:`run_analysis`."""

    session_id: str | None
    events: int
    agents: list[AgentProfile]
    operations: list[AgentOperation]
    handoffs: list[Handoff]
    handoff_stats: dict[str, Any]
    drift: list[DriftAnalysis]
    drift_skipped: int
    graph: CoordinationGraph
    bottlenecks: list[Bottleneck]
    coalitions: list[Coalition]
    coalition_ratings: dict[str, dict[str, Any]]
    anomalies: list[AnomalyResult] = field(default_factory=list)

    @property
    def content_captured(self) -> bool:
        """Whether any operation carries captured content (drift needs it)."""
        return any(o.input_content or o.output_content for o in self.operations)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (operations left out)."""
        return {
            "session_id": self.session_id, "events": self.events,
            "agents": [a.to_dict() for a in self.agents],
            "handoff_stats": self.handoff_stats,
            "handoffs": [h.to_dict() for h in self.handoffs],
            "drift": [d.to_dict() | {"has_high_drift": d.has_high_drift} for d in self.drift],
            "drift_skipped_without_content": self.drift_skipped,
            "graph": self.graph.to_dict(),
            "bottlenecks": [b.to_dict() for b in self.bottlenecks],
            "coalitions": [c.to_dict() | {"performance": self.coalition_ratings.get(c.coalition_id, {})}
                           for c in self.coalitions],
            "anomalies": [a.to_dict() for a in self.anomalies],
        }


def run_analysis(events: Sequence[MetricEvent], session_id: str | None = None, *,
                 anomalies: bool = True) -> AnalysisReport:
    """Run every analysis on ``events`` (restricted to ``session_id`` when given)."""
    if session_id is not None:
        events = [e for e in events if e.session_id == session_id]
    detector = AgentDetector()
    agents = detector.detect_agents_sync(events, auto_register=True)
    operations = detector.detect_agent_operations_sync(events)
    handoff_analyzer = HandoffAnalyzer()
    handoffs = handoff_analyzer.analyze_handoffs_sync(operations, events)
    drift_detector = ContextDriftDetector()
    drift = drift_detector.detect_drift_sync(operations, events)
    graph = CoordinationGraphBuilder().build_graph_sync(agents, operations, handoffs, session_id)
    bottleneck_detector = BottleneckDetector()
    bottleneck_detector.detect_bottlenecks_sync(agents, operations, handoffs, graph.nodes, graph.edges)
    coalition_analyzer = CoalitionAnalyzer()
    coalitions = coalition_analyzer.discover_coalitions_sync(agents, operations, handoffs, session_id)
    found: list[AnomalyResult] = []
    if anomalies and events:
        service = AnomalyDetectionService()
        service.train_sync(events)
        found = service.detect_sync(events)
        found.sort(key=lambda a: -a.anomaly_score)
    return AnalysisReport(
        session_id=session_id, events=len(events), agents=agents, operations=operations, handoffs=handoffs,
        handoff_stats=handoff_analyzer.calculate_handoff_statistics(), drift=drift,
        drift_skipped=drift_detector.skipped_without_content, graph=graph,
        bottlenecks=list(bottleneck_detector.scores), coalitions=coalitions,
        coalition_ratings={c.coalition_id: coalition_analyzer.analyze_coalition_performance(c) for c in coalitions},
        anomalies=found)
