"""Bottleneck detection: which agent slows the system down, and what to do about it.

Per agent, over its invocations (self time = wall time minus nested invocations of other agents):

* ``utilization`` = the agent's total self time / the total self time of all agents;
* ``latency_score`` = ``p95_self / (p95_self + median of every agent's p95_self)`` (0.5 for a
  typical agent, towards 1 for one much slower than the others);
* ``failure_rate`` = failed invocations / invocations;
* ``downstream_impact`` = the agent's share of the critical-path time of all traces (time every
  other agent, and the user, waited for it);

``bottleneck_score = 0.3 * utilization + 0.3 * latency_score + 0.2 * failure_rate + 0.2 * downstream_impact``
and severity CRITICAL >= 0.7 > HIGH >= 0.5 > MEDIUM >= 0.3 > LOW.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from operator import attrgetter

from llamonitor.analytics.agents.index import entries_by_agent, index_for
from llamonitor.analytics.agents.links import critical_time
from llamonitor.analytics.agents.models import (
    AgentOperation,
    AgentProfile,
    Bottleneck,
    BottleneckSeverity,
    GraphEdge,
    GraphNode,
    Handoff,
    gc_paused,
    percentile,
)

UTILIZATION_WEIGHT = 0.3
LATENCY_WEIGHT = 0.3
FAILURE_WEIGHT = 0.2
DOWNSTREAM_WEIGHT = 0.2

_self_time = attrgetter("self_time_ms")
_duration = attrgetter("duration_ms")
_success = attrgetter("success")
_pair = attrgetter("from_agent", "to_agent")


class BottleneckDetector:
    """Scores every agent as a potential bottleneck (see the module doc)."""

    def __init__(self, min_score: float = 0.3) -> None:
        #: agents scoring below this are not reported by :meth:`detect_bottlenecks`
        self.min_score = min_score
        #: every agent's score from the last call, highest first (including those below ``min_score``)
        self.scores: list[Bottleneck] = []

    @gc_paused
    def detect_bottlenecks_sync(self, agents: Sequence[AgentProfile], operations: Sequence[AgentOperation],
                                handoffs: Sequence[Handoff], nodes: Sequence[GraphNode] | None = None,
                                edges: Sequence[GraphEdge] | None = None) -> list[Bottleneck]:
        """Synchronous :meth:`detect_bottlenecks`."""
        idx = index_for(operations)
        entries = entries_by_agent(idx)
        if not entries:
            self.scores = []
            return []
        busy = {a: sum(map(_self_time, inv)) for a, inv in entries.items()}
        total_busy = sum(busy.values())
        p95_self = {a: percentile(sorted(map(_self_time, inv)), 95) for a, inv in entries.items()}
        median_p95 = statistics.median(p95_self.values())
        crit = critical_time(idx)[0]
        total_crit = sum(crit.values())
        downstream: dict[str, set[str]] = defaultdict(set)
        for pair in set(map(_pair, handoffs)):
            downstream[pair[0]].add(pair[1])
        for edge in edges or ():
            downstream[edge.source].add(edge.target)
        profiles = {a.agent_name: a for a in agents}
        results: list[Bottleneck] = []
        for agent, inv in entries.items():
            util = busy[agent] / total_busy if total_busy > 0 else 0.0
            lat = p95_self[agent] / (p95_self[agent] + median_p95) if p95_self[agent] + median_p95 > 0 else 0.0
            fail = (len(inv) - sum(map(_success, inv))) / len(inv)
            impact = crit.get(agent, 0.0) / total_crit if total_crit > 0 else 0.0
            score = (UTILIZATION_WEIGHT * util + LATENCY_WEIGHT * lat + FAILURE_WEIGHT * fail
                     + DOWNSTREAM_WEIGHT * impact)
            prof = profiles.get(agent)
            p95_wall = prof.p95_latency_ms if prof else percentile(sorted(map(_duration, inv)), 95)
            affected = sorted(downstream.get(agent, set()) - {agent})
            results.append(Bottleneck(
                agent_name=agent, bottleneck_score=score, severity=BottleneckSeverity.from_score(score),
                utilization=util, latency_score=lat, failure_rate=fail, downstream_impact=impact,
                invocations=len(inv), p95_latency_ms=p95_wall, p95_self_time_ms=p95_self[agent],
                critical_path_ms=crit.get(agent, 0.0), affected_agents=affected,
                recommendations=_recommend(agent, util, p95_self[agent], median_p95, fail, impact, affected)))
        results.sort(key=lambda b: (-b.bottleneck_score, b.agent_name))
        self.scores = results
        return [b for b in results if b.bottleneck_score >= self.min_score]

    async def detect_bottlenecks(self, agents: Sequence[AgentProfile], operations: Sequence[AgentOperation],
                                 handoffs: Sequence[Handoff], nodes: Sequence[GraphNode] | None = None,
                                 edges: Sequence[GraphEdge] | None = None) -> list[Bottleneck]:
        """Agents scoring at least ``min_score``, worst first, with recommendations.

        ``nodes`` / ``edges`` (from a :class:`CoordinationGraph`) add downstream agents to the
        recommendations; scores are computed from the operations and handoffs.
        """
        return self.detect_bottlenecks_sync(agents, operations, handoffs, nodes, edges)


def _recommend(agent: str, util: float, p95: float, median_p95: float, fail: float, impact: float,
               affected: Sequence[str]) -> list[str]:
    recs: list[str] = []
    if median_p95 > 0 and p95 >= 2 * median_p95:
        recs.append(f"p95 {p95:.0f} ms is {p95 / median_p95:.1f}x the typical agent's: use a faster or smaller "
                    f"model, cache repeated calls, or stream the response")
    if fail >= 0.05:
        recs.append(f"{fail * 100:.0f}% of invocations fail: add retries with backoff and a fallback model, "
                    f"and check the error types")
    if util >= 0.4:
        recs.append(f"does {util * 100:.0f}% of all agent work: split its task, batch its calls, or run "
                    f"several instances in parallel")
    if impact >= 0.4:
        who = f" (hands over to {', '.join(affected)})" if affected else ""
        recs.append(f"on the critical path for {impact * 100:.0f}% of end-to-end time{who}: run independent "
                    f"steps concurrently or hand over partial results earlier")
    if not recs:
        recs.append("no single cause stands out; watch its p95 latency and failure rate")
    return recs
