"""The coordination graph: agents as nodes, aggregated handoffs as edges, depth and critical path.

Exports (:meth:`CoordinationGraphBuilder.export_for_visualization`):

* ``"networkx"``: node-link data (``directed``, ``multigraph``, ``graph``, ``nodes``, ``links``
  and the same list as ``edges``), accepted by ``networkx.node_link_graph`` (old and new keyword);
* ``"cytoscape"``: ``{"data": [...], "directed", "multigraph", "elements": {"nodes", "edges"}}``
  as Cytoscape.js and ``networkx.cytoscape_graph`` read it;
* ``"d3"``: ``{"nodes": [{"id", ...}], "links": [{"source", "target", "value", ...}]}`` for a
  d3-force layout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from llamonitor.analytics.agents.index import entries_by_agent, entry_latencies, index_for
from llamonitor.analytics.agents.links import critical_paths_of, critical_time, links_of, longest_chain
from llamonitor.analytics.agents.models import (
    AgentOperation,
    AgentProfile,
    CoordinationGraph,
    GraphEdge,
    GraphNode,
    Handoff,
    gc_paused,
    percentile,
)

EXPORT_FORMATS = ("networkx", "cytoscape", "d3")

_success = attrgetter("success")
_quality = attrgetter("quality_score")
_gap = attrgetter("gap_ms")
_target_success = attrgetter("target_success")
_kind = attrgetter("kind")
_to_agent = attrgetter("to_agent")
_from_agent = attrgetter("from_agent")


class CoordinationGraphBuilder:
    """Builds a :class:`CoordinationGraph` from agents, operations and scored handoffs."""

    def __init__(self) -> None:
        #: the last graph built
        self.graph: CoordinationGraph | None = None

    @gc_paused
    def build_graph_sync(self, agents: Sequence[AgentProfile], operations: Sequence[AgentOperation],
                         handoffs: Sequence[Handoff], session_id: str | None = None) -> CoordinationGraph:
        """Synchronous :meth:`build_graph`."""
        ops = operations if session_id is None else [o for o in operations if o.session_id == session_id]
        hs = handoffs if session_id is None else [h for h in handoffs if h.session_id == session_id]
        idx = index_for(ops)
        profiles = {a.agent_name: a for a in agents}
        entries = entries_by_agent(idx)
        latencies = entry_latencies(idx)
        paths = critical_paths_of(idx)
        crit_by_agent, trace_totals = critical_time(idx)
        nodes: list[GraphNode] = []
        for name in sorted(entries, key=lambda n: (-len(entries[n]), n)):
            inv = entries[name]
            lat = latencies[name]
            prof = profiles.get(name)
            nodes.append(GraphNode(
                id=name, agent_role=prof.agent_role if prof else inv[0].agent_role,
                identity_source=str(prof.identity_source if prof else inv[0].identity_source),
                invocations=len(inv), avg_latency_ms=sum(lat) / len(lat), p95_latency_ms=percentile(lat, 95),
                success_rate=sum(map(_success, inv)) / len(inv),
                critical_path_ms=crit_by_agent.get(name, 0.0)))
        grouped: dict[tuple[str, str], list[Handoff]] = defaultdict(list)
        for h in hs:
            grouped[(h.from_agent, h.to_agent)].append(h)
        edges = [GraphEdge(source=s, target=t, count=len(g),
                           avg_quality_score=sum(map(_quality, g)) / len(g),
                           avg_gap_ms=sum(map(_gap, g)) / len(g),
                           failures=len(g) - sum(map(_target_success, g)),
                           kinds=sorted({k.value for k in set(map(_kind, g))}))
                 for (s, t), g in sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
        worst_trace, worst_ms = None, 0.0
        for trace, total_ns in trace_totals.items():
            total = total_ns / 1e6
            if total > worst_ms:
                worst_trace, worst_ms = trace, total
        path: list[str] = []
        breakdown: dict[str, float] = {}
        if worst_trace is not None:
            for agent, s, e in paths[worst_trace]:
                ms = (e - s) / 1e6
                # slivers (< 1 % of the path, e.g. an orchestrator's dispatch time) stay out of the list
                if ms >= 0.01 * worst_ms and (not path or path[-1] != agent):
                    path.append(agent)
                breakdown[agent] = breakdown.get(agent, 0.0) + ms
        targets = set(map(_to_agent, hs))
        entry_agents = sorted({o.agent_name for o in ops if not o.parent_span_id and o.is_entry} - targets) or \
            sorted(set(map(_from_agent, hs)) - targets)
        graph = CoordinationGraph(
            session_id=session_id, nodes=nodes, edges=edges, max_depth=self._max_depth(ops),
            critical_path_ms=round(worst_ms, 3), critical_path=path, critical_path_breakdown=breakdown,
            entry_agents=entry_agents, traces=len(paths))
        self.graph = graph
        return graph

    @staticmethod
    def _max_depth(ops: Sequence[AgentOperation]) -> int:
        if not ops:
            return 0
        idx = index_for(ops)
        depth: int | None = idx.cache.get("depth")
        if depth is None:
            depth = idx.cache["depth"] = max(1, longest_chain(links_of(idx)))
        return depth

    async def build_graph(self, agents: Sequence[AgentProfile], operations: Sequence[AgentOperation],
                          handoffs: Sequence[Handoff], session_id: str | None = None) -> CoordinationGraph:
        """The coordination graph of ``session_id`` (all sessions when ``None``)."""
        return self.build_graph_sync(agents, operations, handoffs, session_id)

    def export_for_visualization(self, graph: CoordinationGraph | None = None,
                                 format: str = "networkx") -> dict[str, Any]:
        """``graph`` (default: the last built) as plain data for NetworkX, Cytoscape or D3 (see the module doc)."""
        g = graph if graph is not None else self.graph
        if g is None:
            raise ValueError("no graph: call build_graph first or pass one")
        fmt = format.lower().replace(".js", "").replace("_", "")
        nodes = [n.to_dict() for n in g.nodes]
        edges = [e.to_dict() for e in g.edges]
        meta = {"session_id": g.session_id, "max_depth": g.max_depth, "critical_path_ms": g.critical_path_ms,
                "critical_path": list(g.critical_path), "traces": g.traces}
        if fmt == "networkx":
            links = [dict(e) for e in edges]
            return {"directed": True, "multigraph": False, "graph": meta, "nodes": nodes, "links": links,
                    "edges": [dict(e) for e in links]}
        if fmt == "cytoscape":
            return {"data": list(meta.items()), "directed": True, "multigraph": False, "elements": {
                "nodes": [{"data": {**n, "name": n["id"], "value": n["id"]}} for n in nodes],
                "edges": [{"data": {**e, "id": f"{e['source']}->{e['target']}"}} for e in edges]}}
        if fmt == "d3":
            return {"graph": meta, "nodes": [{**n, "group": n["agent_role"] or n["id"]} for n in nodes],
                    "links": [{**e, "value": e["count"]} for e in edges]}
        raise ValueError(f"unknown format {format!r}; use one of {', '.join(EXPORT_FORMATS)}")
