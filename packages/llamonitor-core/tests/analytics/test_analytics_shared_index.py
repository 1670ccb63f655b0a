"""The analyses share one trace index per operations list: reusing it must never change a result."""

from __future__ import annotations

from typing import Any

from llamonitor.analytics.agents import (
    AgentDetector,
    BottleneckDetector,
    CoalitionAnalyzer,
    ContextDriftDetector,
    CoordinationGraphBuilder,
    HandoffAnalyzer,
)
from llamonitor.analytics.agents.links import find_handoff_links
from llamonitor.schema.events import AgentIdentity, MetricEvent


def results(agents: Any, ops: Any, session: str | None = None) -> dict[str, Any]:
    hs = HandoffAnalyzer().analyze_handoffs_sync(ops)
    graph = CoordinationGraphBuilder().build_graph_sync(agents, ops, hs, session)
    return {
        "handoffs": [h.to_dict() for h in hs],
        "drift": [d.to_dict() for d in ContextDriftDetector().detect_drift_sync(ops)],
        "graph": graph.to_dict(),
        "bottlenecks": [b.to_dict() for b in BottleneckDetector(0.0).detect_bottlenecks_sync(agents, ops, hs)],
        "coalitions": [c.to_dict() for c in CoalitionAnalyzer().discover_coalitions_sync(agents, ops, hs, session)],
    }


def test_copies_subsets_and_interleaved_lists_give_the_same_results(make_chain: Any) -> None:
    events = (make_chain("t1", "s1", 0, [("router", 5), ("writer", 30), ("checker", 8)])
              + make_chain("t2", "s2", 100, [("router", 4), ("writer", 50)], gap_ms=3)
              + make_chain("t3", "s1", 200, [("router", 6), ("checker", 9), ("writer", 20)]))
    det = AgentDetector()
    agents = det.detect_agents_sync(events)
    ops = det.detect_agent_operations_sync(events)
    first = results(agents, ops)
    # a copy of the list reuses the index; another list in between replaces it
    assert results(agents, list(ops)) == first
    other_events = make_chain("x", "sx", 0, [("a", 1), ("b", 2)])
    other = AgentDetector()
    results(other.detect_agents_sync(other_events), other.detect_agent_operations_sync(other_events))
    assert results(agents, ops) == first
    # a session's subset is its own list (its own index), and does not disturb the full one
    subset = results(agents, [o for o in ops if o.session_id == "s1"], "s1")
    assert subset["graph"]["traces"] == 2
    assert results(agents, ops) == first
    assert [(lk[2].agent_name, lk[3].agent_name) for lk in find_handoff_links(ops)] == [
        (h["from_agent"], h["to_agent"]) for h in first["handoffs"]]


def _event(span: str, parent: str | None, agent: str, start_ms: int, end_ms: int) -> MetricEvent:
    t0 = 1_767_225_600_000_000_000
    return MetricEvent(event_id=f"e-{span}-{start_ms}", session_id="s", trace_id="t", span_id=span,
                       parent_span_id=parent, operation_name=f"{agent}_step", start_time_ns=t0 + start_ms * 10**6,
                       end_time_ns=t0 + end_ms * 10**6, duration_ms=float(end_ms - start_ms),
                       agent=AgentIdentity(agent_name=agent))


def test_repeated_span_ids_still_resolve_invocations() -> None:
    events = [
        _event("root", None, "boss", 0, 100),
        _event("a", "root", "worker", 10, 40),
        _event("a", "root", "worker", 50, 90),  # the same span id again (a retried export, say)
        _event("a.1", "a", "worker", 55, 60),   # nested in the worker: same invocation
        _event("a.2", "a", "helper", 60, 80),   # another agent: its own invocation
    ]
    ops = AgentDetector().detect_agent_operations_sync(events)
    entry = {(o.span_id, o.start_ns): (o.is_entry, o.entry_span_id) for o in ops}
    t0 = events[0].start_time_ns
    assert entry[("a.1", t0 + 55 * 10**6)] == (False, "a")
    assert entry[("a.2", t0 + 60 * 10**6)] == (True, "a.2")
    assert all(o.is_entry for o in ops if o.span_id in ("root", "a"))
    root = next(o for o in ops if o.span_id == "root")
    assert root.self_time_ms == 100 - 30 - 40  # both "a" invocations are nested in the boss's
