"""Coalitions: teams of agents that work together, and how well each team performs.

In each trace, agents joined by handoffs form a team (a connected group of at least two agents).
Runs with the same set of agents are one :class:`Coalition`. A run succeeds when the trace's
top-level spans succeeded (the workflow's own outcome, after its retries and fallbacks).

``performance_score = 0.6 * success_rate + 0.4 * avg_handoff_quality``, rated EXCELLENT >= 0.9,
GOOD >= 0.75, FAIR >= 0.5, else POOR.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Container, Sequence
from operator import attrgetter
from typing import Any

from llamonitor.analytics.agents.index import index_for
from llamonitor.analytics.agents.models import (
    AgentOperation,
    AgentProfile,
    Coalition,
    Handoff,
    display_name,
    gc_paused,
    percentile,
)

_span_id = attrgetter("span_id")
_pair = attrgetter("from_agent", "to_agent")
_success = attrgetter("success")
_start = attrgetter("start_ns")
_end = attrgetter("end_ns")


def _rating(score: float) -> str:
    if score >= 0.9:
        return "EXCELLENT"
    if score >= 0.75:
        return "GOOD"
    if score >= 0.5:
        return "FAIR"
    return "POOR"


class CoalitionAnalyzer:
    """Discovers agent teams and rates them (see the module doc)."""

    def __init__(self, min_runs: int = 1) -> None:
        #: teams seen in fewer runs than this are not reported
        self.min_runs = min_runs
        #: coalitions of the last :meth:`discover_coalitions` call
        self.coalitions: list[Coalition] = []

    @gc_paused
    def discover_coalitions_sync(self, agents: Sequence[AgentProfile], operations: Sequence[AgentOperation],
                                 handoffs: Sequence[Handoff], session_id: str | None = None) -> list[Coalition]:
        """Synchronous :meth:`discover_coalitions`."""
        ops_by_trace: dict[str, list[AgentOperation]]
        spans_by_trace: dict[str, dict[str, AgentOperation]] | None = None
        if session_id is None:
            idx = index_for(operations)
            ops_by_trace, spans_by_trace = idx.traces, idx.spans
        else:
            ops_by_trace = defaultdict(list)
            for o in operations:
                if o.session_id == session_id:
                    ops_by_trace[o.trace_id].append(o)
        hs_by_trace: dict[str, list[Handoff]] = defaultdict(list)
        for h in handoffs:
            # (a trace id such as "conversation-1" may repeat in other sessions)
            if h.trace_id in ops_by_trace and (session_id is None or h.session_id == session_id):
                hs_by_trace[h.trace_id].append(h)
        sources = {a.agent_name: str(a.identity_source) for a in agents}
        runs: dict[frozenset[str], list[tuple[bool, float, list[Handoff], str, dict[str, int]]]] = defaultdict(list)
        # traces of one workflow hand over between the same agents in the same order: their teams
        # are computed once per distinct sequence of (from, to) pairs
        components: dict[tuple[tuple[str, str], ...], list[frozenset[str]]] = {}
        for trace, hs in hs_by_trace.items():
            ops = ops_by_trace[trace]
            spans: Container[str | None] = (set(map(_span_id, ops)) if spans_by_trace is None
                                            else spans_by_trace[trace])
            roots = [o for o in ops if o.parent_span_id not in spans]
            roots_ok = all(map(_success, roots))
            first_seen: dict[str, int] = {}  # each agent's earliest start in the trace
            for o in ops:
                seen = first_seen.get(o.agent_name)
                if seen is None or o.start_ns < seen:
                    first_seen[o.agent_name] = o.start_ns
            pairs = tuple(map(_pair, hs))
            teams = components.get(pairs)
            if teams is None:
                teams = components[pairs] = _components(pairs)
            for team in teams:
                team_ops = ops if team.issuperset(first_seen) else [o for o in ops if o.agent_name in team]
                if not team_ops:
                    continue
                ok = roots_ok if roots else all(o.success for o in team_ops if o.is_entry)
                wall = (max(map(_end, team_ops)) - min(map(_start, team_ops))) / 1e6
                team_hs = [h for h in hs if h.from_agent in team]
                runs[team].append((ok, wall, team_hs, ops[0].session_id, {a: first_seen.get(a, 0) for a in team}))
        coalitions: list[Coalition] = []
        for team, team_runs in runs.items():
            if len(team_runs) < self.min_runs:
                continue
            order: dict[str, float] = defaultdict(float)
            for run in team_runs:
                ranked = sorted(run[4], key=run[4].__getitem__)
                for i, a in enumerate(ranked):
                    order[a] += i
            members = sorted(team, key=lambda a: (order[a], a))
            walls = sorted(r[1] for r in team_runs)
            all_hs = [h for r in team_runs for h in r[2]]
            cid = hashlib.sha1(",".join(sorted(team)).encode()).hexdigest()[:10]
            coalitions.append(Coalition(
                coalition_id=f"coalition-{cid}", coalition_name=" + ".join(display_name(a) for a in members),
                agents=members, runs=len(team_runs), success_rate=sum(1 for r in team_runs if r[0]) / len(team_runs),
                avg_total_latency_ms=sum(walls) / len(walls), p95_total_latency_ms=percentile(walls, 95),
                avg_handoff_quality=sum(h.quality_score for h in all_hs) / len(all_hs) if all_hs else 0.0,
                handoffs=len(all_hs), sessions=sorted({r[3] for r in team_runs}),
                identity_sources=sorted({sources.get(a, "recorded") for a in members})))
        coalitions.sort(key=lambda c: (-c.runs, c.coalition_name))
        self.coalitions = coalitions
        return coalitions

    async def discover_coalitions(self, agents: Sequence[AgentProfile], operations: Sequence[AgentOperation],
                                  handoffs: Sequence[Handoff], session_id: str | None = None) -> list[Coalition]:
        """The teams in ``session_id`` (all sessions when ``None``), most frequent first."""
        return self.discover_coalitions_sync(agents, operations, handoffs, session_id)

    def analyze_coalition_performance(self, coalition: Coalition) -> dict[str, Any]:
        """``performance_rating`` / ``performance_score`` (see the module doc), with strengths and weaknesses."""
        score = 0.6 * coalition.success_rate + 0.4 * coalition.avg_handoff_quality
        strengths: list[str] = []
        weaknesses: list[str] = []
        if coalition.success_rate >= 0.95:
            strengths.append(f"{coalition.success_rate * 100:.0f}% of runs succeed")
        elif coalition.success_rate < 0.8:
            weaknesses.append(f"only {coalition.success_rate * 100:.0f}% of runs succeed")
        if coalition.avg_handoff_quality >= 0.9:
            strengths.append(f"handoffs average {coalition.avg_handoff_quality:.2f}")
        elif coalition.avg_handoff_quality < 0.7:
            weaknesses.append(f"handoffs average {coalition.avg_handoff_quality:.2f}")
        return {
            "coalition_id": coalition.coalition_id,
            "coalition_name": coalition.coalition_name,
            "performance_rating": _rating(score),
            "performance_score": score,
            "success_rate": coalition.success_rate,
            "avg_total_latency_ms": coalition.avg_total_latency_ms,
            "p95_total_latency_ms": coalition.p95_total_latency_ms,
            "avg_handoff_quality": coalition.avg_handoff_quality,
            "runs": coalition.runs,
            "strengths": strengths,
            "weaknesses": weaknesses,
        }


def _components(pairs: Sequence[tuple[str, str]]) -> list[frozenset[str]]:
    """Connected groups (at least two agents) of the agents joined by handoffs (``(from, to)``
    pairs), ordered by their first-seen member; each set is filled in first-seen order (so its
    iteration order does not depend on how the groups were merged)."""
    comp: dict[str, set[str]] = {}  # agent -> the (shared) set of its group, in first-seen order
    for a, b in pairs:
        ca = comp.get(a)
        cb = comp.get(b)
        if ca is None:
            if cb is None:
                ca = comp[a] = {a}
                if b != a:
                    ca.add(b)
                    comp[b] = ca
            else:
                cb.add(a)
                comp[a] = cb
        elif cb is None:
            ca.add(b)
            comp[b] = ca
        elif ca is not cb:
            if len(ca) < len(cb):
                ca, cb = cb, ca
            ca |= cb
            for x in cb:
                comp[x] = ca
    groups: dict[int, set[str]] = {}
    for agent, group in comp.items():
        g = groups.get(id(group))
        if g is None:
            g = groups[id(group)] = set()
        g.add(agent)
    return [frozenset(g) for g in groups.values() if len(g) >= 2]
