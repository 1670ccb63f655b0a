"""Multi-agent analyses on constructed traces whose right answers are known."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from llamonitor.analytics.agents import (
    AgentDetector,
    BottleneckDetector,
    BottleneckSeverity,
    CoalitionAnalyzer,
    ContextDriftDetector,
    CoordinationGraphBuilder,
    HandoffAnalyzer,
    HandoffKind,
    HandoffQuality,
    IdentitySource,
    extract_entities,
)
from llamonitor.schema.events import MetricEvent


def analyse(events: list[MetricEvent]) -> dict[str, Any]:
    det = AgentDetector()
    agents = det.detect_agents_sync(events, auto_register=True)
    ops = det.detect_agent_operations_sync(events)
    ha = HandoffAnalyzer()
    hs = ha.analyze_handoffs_sync(ops, events)
    gb = CoordinationGraphBuilder()
    graph = gb.build_graph_sync(agents, ops, hs, None)
    return {"detector": det, "agents": agents, "ops": ops, "analyzer": ha, "handoffs": hs, "builder": gb,
            "graph": graph}


# -- context drift ----------------------------------------------------------------------------------
def drift_trace(trace: Any) -> list[MetricEvent]:
    tr = trace("drift-1", "sess-drift")
    original = "John Smith at john@example.com needs help with order #12345"
    a_out = "Customer John Smith (john@example.com) needs help with order #12345."
    b_out = "Customer John Smith needs help with a delayed order."
    tr.span("intake", "intake_step", 0, 10, input=original, output=a_out)
    tr.span("triage", "triage_step", 10, 10, input=a_out, output=b_out)
    tr.span("resolver", "resolver_step", 20, 10, input=b_out, output="Hello John, we are looking into your order.")
    return tr.events


def test_second_agent_dropping_email_and_order_number_is_flagged_with_exactly_those(trace: Any) -> None:
    events = drift_trace(trace)
    r = analyse(events)
    dd = ContextDriftDetector()
    analyses = dd.detect_drift_sync(r["ops"], events)
    assert [(a.from_agent, a.to_agent) for a in analyses] == [("intake", "triage"), ("triage", "resolver")]
    first, second = analyses
    assert first.lost_entities == [] and first.drift_score == 0 and not first.has_high_drift
    assert {(e.entity_type, e.value) for e in second.lost_entities} == {
        ("email", "john@example.com"), ("order_number", "12345")}
    assert [e.value for e in second.preserved_entities] == ["John Smith"]
    assert second.drift_score == pytest.approx(2 / 3) and second.has_high_drift
    assert dd.get_high_drift_handoffs(threshold=0.4) == [second]
    assert dd.get_high_drift_handoffs(threshold=0.7) == []


def test_entity_extraction_types() -> None:
    text = ('Hi, this is Maria Garcia (maria.garcia@example.com), phone +1 555-123-4567. Order #A-99812 '
            'and ticket TCK-4411: I paid $49.99 for 3 items and it says "delivery failed" since Monday.')
    got = {(e.entity_type, e.value) for e in extract_entities(text)}
    assert got == {("person_name", "Maria Garcia"), ("email", "maria.garcia@example.com"),
                   ("phone", "+1 555-123-4567"), ("order_number", "A-99812"), ("id", "TCK-4411"),
                   ("quantity", "$49.99"), ("quantity", "3 items"), ("quoted_text", "delivery failed"),
                   ("proper_noun", "Monday")}


def test_drift_needs_captured_content(trace: Any) -> None:
    events = drift_trace(trace)
    for e in events[1:]:
        e.input_content = e.output_content = None
    r = analyse(events)
    dd = ContextDriftDetector()
    assert dd.detect_drift_sync(r["ops"], events) == []
    assert dd.skipped_without_content == 2


# -- handoff scores ---------------------------------------------------------------------------------
def test_handoff_scores_match_hand_computed_values(trace: Any) -> None:
    tr = trace("h1", "s")
    tr.span("a", "a_step", 0, 100)
    tr.span("b", "b_step", 600, 100, error=True)  # starts 500 ms after a ended
    tr.span("c", "c_step", 700, 100)
    r = analyse(tr.events)
    ab, bc = r["handoffs"]
    assert (ab.from_agent, ab.to_agent, ab.kind) == ("a", "b", HandoffKind.SEQUENCE)
    assert ab.gap_ms == pytest.approx(500)
    assert ab.correctness == 0 and ab.efficiency == pytest.approx(1 / 1.5) and ab.success_chain == pytest.approx(2 / 3)
    assert ab.quality_score == pytest.approx(0.3 * (1 / 1.5) + 0.3 * (2 / 3)) == pytest.approx(0.4)
    assert ab.quality is HandoffQuality.POOR
    assert bc.correctness == 1 and bc.efficiency == pytest.approx(1) and bc.success_chain == pytest.approx(0.5)
    assert bc.quality_score == pytest.approx(0.4 + 0.3 + 0.15) and bc.quality is HandoffQuality.GOOD
    stats = r["analyzer"].calculate_handoff_statistics()
    assert stats["avg_quality_score"] == pytest.approx((0.4 + 0.85) / 2)
    assert stats["total_handoffs"] == 2 and stats["by_quality"]["POOR"] == 1 and stats["by_quality"]["GOOD"] == 1


def test_delegation_handoff_score(trace: Any) -> None:
    tr = trace("h2", "s")
    root = tr.span("boss", "plan", 0, 1000)
    tr.span("worker", "work", 200, 300, parent=root)
    (h,) = analyse(tr.events)["handoffs"]
    assert (h.from_agent, h.to_agent, h.kind) == ("boss", "worker", HandoffKind.DELEGATION)
    assert h.gap_ms == pytest.approx(200)
    assert h.quality_score == pytest.approx(0.4 + 0.3 / 1.2 + 0.3) and h.quality is HandoffQuality.EXCELLENT


@pytest.mark.parametrize("score,level", [(0.95, "EXCELLENT"), (0.9, "GOOD"), (0.7, "GOOD"), (0.69, "ACCEPTABLE"),
                                         (0.5, "ACCEPTABLE"), (0.3, "POOR"), (0.29, "FAILED")])
def test_quality_levels(score: float, level: str) -> None:
    assert HandoffQuality.from_score(score).value == level


def test_explicit_handoff_from_links_non_siblings(trace: Any) -> None:
    tr = trace("h3", "s")
    g = tr.span(None, "graph_run", 0, 100)
    tr.span("planner", "plan_node", 0, 20, parent=g)
    inner = tr.span(None, "subgraph", 30, 60, parent=g)
    tr.span("coder", "code_node", 40, 40, parent=inner, handoff_from="planner", framework="langgraph")
    r = analyse(tr.events)
    kinds = {(h.from_agent, h.to_agent): h.kind for h in r["handoffs"]}
    assert kinds[("planner", "coder")] is HandoffKind.EXPLICIT
    assert {a.agent_name: a.framework for a in r["agents"]}["coder"] == "langgraph"


# -- identity ---------------------------------------------------------------------------------------
def test_identity_recorded_inherited_and_inferred(trace: Any) -> None:
    tr = trace("i1", "s")
    root = tr.span("support", "handle", 0, 100, role="coordinator")
    tr.span(None, "llm_call", 10, 20, parent=root)  # no identity of its own: inherits "support"
    tr.span(None, "classify_intent", 200, 10)  # plain decorated code: inferred
    tr.span(None, "format_json", 220, 1)  # nothing to go on: not agent work
    r = analyse(tr.events)
    by_name = {a.agent_name: a for a in r["agents"]}
    assert set(by_name) == {"support", "classify_intent"}
    assert by_name["support"].identity_source is IdentitySource.RECORDED
    assert by_name["support"].operations == 2 and by_name["support"].invocations == 1
    assert by_name["classify_intent"].identity_source is IdentitySource.INFERRED
    assert by_name["classify_intent"].agent_role == "classifier"
    sources = {o.operation_name: o.identity_source for o in r["ops"]}
    assert sources["llm_call"] is IdentitySource.INHERITED
    assert r["detector"].get_agent("support") is by_name["support"]


# -- graph ------------------------------------------------------------------------------------------
def test_graph_depth_critical_path_and_exports(make_chain: Any) -> None:
    events = make_chain("g1", "s", 0, [("a", 10), ("b", 50), ("c", 20)], gap_ms=5)
    r = analyse(events)
    graph = r["graph"]
    assert graph.max_depth == 3
    assert graph.critical_path == ["a", "b", "c"]
    assert graph.critical_path_ms == pytest.approx(80)  # idle gaps belong to no agent
    assert graph.critical_path_breakdown == pytest.approx({"a": 10, "b": 50, "c": 20})
    assert [(e.source, e.target, e.count) for e in graph.edges] == [("a", "b", 1), ("b", "c", 1)]
    assert graph.entry_agents == ["a"]
    gb = r["builder"]
    nx = gb.export_for_visualization(graph, format="networkx")
    assert nx["directed"] is True and nx["multigraph"] is False
    assert {n["id"] for n in nx["nodes"]} == {"a", "b", "c"}
    assert [(lk["source"], lk["target"]) for lk in nx["links"]] == [("a", "b"), ("b", "c")]
    assert nx["edges"] == nx["links"]
    cy = gb.export_for_visualization(graph, format="cytoscape")
    assert {n["data"]["id"] for n in cy["elements"]["nodes"]} == {"a", "b", "c"}
    assert cy["elements"]["edges"][0]["data"]["source"] == "a"
    d3 = gb.export_for_visualization(graph, format="d3")
    assert d3["links"][0]["value"] == 1 and d3["nodes"][0]["id"]
    for data in (nx, cy, d3):
        json.dumps(data)
    with pytest.raises(ValueError, match="unknown format"):
        gb.export_for_visualization(graph, format="graphml")


def test_graph_is_per_session(make_chain: Any) -> None:
    events = make_chain("g1", "s1", 0, [("a", 10), ("b", 10)]) + make_chain("g2", "s2", 100, [("x", 10), ("y", 10)])
    r = analyse(events)
    g = CoordinationGraphBuilder().build_graph_sync(r["agents"], r["ops"], r["handoffs"], "s2")
    assert {n.id for n in g.nodes} == {"x", "y"} and g.traces == 1


def test_critical_path_follows_parent_links(trace: Any) -> None:
    tr = trace("cp", "s")
    root = tr.span("orchestrator", "run", 0, 100)
    tr.span("fast", "fast_step", 5, 20, parent=root)
    tr.span("slow", "slow_step", 5, 90, parent=root)  # parallel with fast; ends last
    g = analyse(tr.events)["graph"]
    assert g.critical_path == ["orchestrator", "slow", "orchestrator"] or g.critical_path == ["orchestrator", "slow"]
    assert g.critical_path_breakdown["slow"] == pytest.approx(90)
    assert "fast" not in g.critical_path_breakdown
    assert g.critical_path_ms == pytest.approx(100)


# -- bottlenecks ------------------------------------------------------------------------------------
def test_slow_agent_that_delays_others_is_the_top_bottleneck(trace: Any) -> None:
    events: list[MetricEvent] = []
    for i in range(20):
        tr = trace(f"b{i}", f"s{i % 4}", i * 1000)
        root = tr.span("orchestrator", "handle", 0, 340)
        tr.span("router", "route", 1, 15, parent=root)
        tr.span("researcher", "research", 17, 280 + (i % 3) * 10, parent=root)  # the slow one
        tr.span("writer", "write", 320, 18, parent=root, error=(i == 3))
        events += tr.events
    r = analyse(events)
    bd = BottleneckDetector()
    found = bd.detect_bottlenecks_sync(r["agents"], r["ops"], r["handoffs"], r["graph"].nodes, r["graph"].edges)
    top = found[0]
    assert top.agent_name == "researcher"
    assert top.severity in (BottleneckSeverity.HIGH, BottleneckSeverity.CRITICAL)
    assert "writer" in top.affected_agents
    assert top.downstream_impact > 0.7 and top.latency_score > 0.9
    assert top.p95_latency_ms == pytest.approx(300, abs=1)
    assert any("critical path" in rec for rec in top.recommendations)
    # the orchestrator's wall time is the longest, but it only waits: not a bottleneck
    orch = next(b for b in bd.scores if b.agent_name == "orchestrator")
    assert orch.bottleneck_score < 0.2
    assert all(found[i].bottleneck_score >= found[i + 1].bottleneck_score for i in range(len(found) - 1))
    expected = 0.3 * top.utilization + 0.3 * top.latency_score + 0.2 * top.failure_rate + 0.2 * top.downstream_impact
    assert top.bottleneck_score == pytest.approx(expected)


def test_failing_agent_gets_a_retry_recommendation(make_chain: Any) -> None:
    events: list[MetricEvent] = []
    for i in range(10):
        evs = make_chain(f"f{i}", "s", i * 100, [("a", 10), ("b", 10)])
        evs[1].error = i % 2 == 0
        events += evs
    r = analyse(events)
    bd = BottleneckDetector(min_score=0.0)
    b = next(x for x in bd.detect_bottlenecks_sync(r["agents"], r["ops"], r["handoffs"]) if x.agent_name == "b")
    assert b.failure_rate == pytest.approx(0.5)
    assert any("retries" in rec for rec in b.recommendations)


# -- coalitions -------------------------------------------------------------------------------------
def test_coalitions_are_discovered_and_rated(make_chain: Any) -> None:
    events: list[MetricEvent] = []
    for i in range(3):
        events += make_chain(f"c{i}", "s1", i * 1000, [("classifier", 10), ("knowledge_base", 20), ("responder", 30)])
    for i in range(2):
        evs = make_chain(f"e{i}", "s2", 10_000 + i * 1000, [("classifier", 10), ("escalation", 40)])
        evs[-1].error = i == 0
        events += evs
    events += make_chain("solo", "s3", 50_000, [("classifier", 10)])  # alone: no team
    r = analyse(events)
    ca = CoalitionAnalyzer()
    cs = ca.discover_coalitions_sync(r["agents"], r["ops"], r["handoffs"], None)
    assert [(c.coalition_name, c.runs) for c in cs] == [("Classifier + Knowledge Base + Responder", 3),
                                                        ("Classifier + Escalation", 2)]
    support, escalation = cs
    assert support.success_rate == 1.0 and support.avg_total_latency_ms == pytest.approx(60)
    assert escalation.success_rate == 0.5 and escalation.avg_total_latency_ms == pytest.approx(50)
    perf = ca.analyze_coalition_performance(support)
    assert perf["performance_rating"] == "EXCELLENT"
    assert ca.analyze_coalition_performance(escalation)["performance_rating"] in ("FAIR", "POOR")
    assert [c.agents for c in ca.discover_coalitions_sync(r["agents"], r["ops"], r["handoffs"], "s2")] == [
        ["classifier", "escalation"]]


def test_coalitions_of_one_session_ignore_a_trace_id_reused_in_another(make_chain: Any) -> None:
    # "conversation-1" in two sessions with different teams: asking for s1 sees only s1's team
    events = make_chain("conversation-1", "s1", 0, [("classifier", 10), ("responder", 30)])
    events += make_chain("conversation-1", "s2", 5_000, [("triage", 10), ("billing", 20)])
    r = analyse(events)
    ca = CoalitionAnalyzer()
    assert [c.agents for c in ca.discover_coalitions_sync(r["agents"], r["ops"], r["handoffs"], "s1")] == [
        ["classifier", "responder"]]
    assert [c.agents for c in ca.discover_coalitions_sync(r["agents"], r["ops"], r["handoffs"], "s2")] == [
        ["triage", "billing"]]


def test_empty_input_is_harmless() -> None:
    r = analyse([])
    assert r["agents"] == [] and r["handoffs"] == [] and r["graph"].max_depth == 0
    assert BottleneckDetector().detect_bottlenecks_sync([], [], []) == []
    assert r["analyzer"].calculate_handoff_statistics()["avg_quality_score"] == 0.0
    assert not math.isnan(r["graph"].critical_path_ms)
