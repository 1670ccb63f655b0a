"""The seed README's anomaly and multi-agent snippets run verbatim (``llmops_monitoring.*`` imports).

Glue only defines what a snippet leaves undefined (``events``, ``historical_events``,
``operations``, ``session_id``, ``nodes``, ``edges``) and then checks what the snippet computed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from llamonitor.schema.events import MetricEvent

T0 = 1_767_225_600_000_000_000


def latency_events(n: int, start: int, seed: int = 1, durations: list[float] | None = None) -> list[MetricEvent]:
    """``generate_summary`` calls of about 120 ms +- 15 ms (or the given durations)."""
    rng = random.Random(seed)
    values = durations or [max(1.0, rng.gauss(120, 15)) for _ in range(n)]
    return [MetricEvent(event_id=f"e{start + i}", session_id="s", trace_id=f"t{start + i}", span_id=f"{start + i:016x}",
                        operation_name="generate_summary", start_time_ns=T0 + (start + i) * 10**9,
                        end_time_ns=T0 + (start + i) * 10**9 + int(d * 1e6), duration_ms=d)
            for i, d in enumerate(values)]

AGENT_HEADINGS = ["1. **Automatic Agent Detection**", "2. **Handoff Quality Scoring**",
                  "3. **Context Drift Detection**", "4. **Coordination Graph Building**",
                  "5. **Bottleneck Detection**", "6. **Coalition Analytics**"]


def support_events(trace: Any, n: int = 6) -> list[MetricEvent]:
    """Support workflows with captured content; in odd runs the knowledge base drops the email and order."""
    events: list[MetricEvent] = []
    for i in range(n):
        tr = trace(f"trace-{i}", "session-42" if i < 4 else "session-7", i * 1000)
        msg = f"Hi, this is John Smith (john.smith@example.com). Where is my order #{10_000 + i}?"
        kb_ms = 250 if i == 3 else 60  # run 3: the knowledge base is slow
        root = tr.span("orchestrator", "handle_turn", 0, 25 + kb_ms + 5 + 40 + 2, input=msg, role="coordinator",
                       error=(i == 5))  # run 5 fails: the responder's error propagates
        tr.span("classifier", "classify_intent", 2, 20, parent=root, input=msg, output='{"intent": "order_status"}')
        notes = "order status question" if i % 2 else f"John Smith, john.smith@example.com, order #{10_000 + i}"
        tr.span("knowledge_base", "search_knowledge_base", 25, kb_ms, parent=root, input=msg, output=notes)
        start = 25 + kb_ms + 5
        tr.span("response_generator", "generate_response", start, 40, parent=root, input=notes,
                output=f"Dear customer, about your {notes}: it ships tomorrow.", error=(i == 5))
        events += tr.events
    return events


def test_seed_headings_are_found(seed: Callable[..., str]) -> None:
    assert "AnomalyDetectionService" in seed("ML-based Anomaly Detection")
    classes = ["AgentDetector", "HandoffAnalyzer", "ContextDriftDetector", "CoordinationGraphBuilder",
               "BottleneckDetector", "CoalitionAnalyzer"]
    for heading, cls in zip(AGENT_HEADINGS, classes, strict=True):
        assert cls in seed(heading)
    assert "detect_agent_operations" in seed("Quick Start")


def test_anomaly_snippet(seed: Callable[..., str], run: Callable[[str, dict[str, Any]], None],
                         capsys: pytest.CaptureFixture[str]) -> None:
    new = latency_events(50, 1000, seed=2)
    new.insert(10, latency_events(1, 4242, durations=[2500.0])[0])
    g: dict[str, Any] = {"__name__": "seed_snippet", "historical_events": latency_events(300, 0), "new_events": new}
    run(seed("ML-based Anomaly Detection"), g)
    out = capsys.readouterr().out
    assert "🚨 Anomaly detected in generate_summary" in out
    assert "Severity: CRITICAL" in out and "Metric: duration_ms" in out
    alerts = [a for a in g["anomalies"] if a.is_alert]
    assert [a.event_id for a in alerts] == ["e4242"]


def test_the_six_agent_snippets_in_order(trace: Any, seed: Callable[..., str],
                                         run: Callable[[str, dict[str, Any]], None],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    g: dict[str, Any] = {"__name__": "seed_snippet", "events": support_events(trace)}
    run(seed(AGENT_HEADINGS[0]), g)
    assert {a.agent_name for a in g["agents"]} == {"orchestrator", "classifier", "knowledge_base", "response_generator"}
    assert all(str(a.identity_source) == "recorded" for a in g["agents"])
    run("operations = await detector.detect_agent_operations(events)", g)  # glue: the snippets use it
    run(seed(AGENT_HEADINGS[1]), g)
    assert {(h.from_agent, h.to_agent) for h in g["handoffs"]} >= {("orchestrator", "classifier"),
                                                                   ("classifier", "knowledge_base"),
                                                                   ("knowledge_base", "response_generator")}
    run(seed(AGENT_HEADINGS[2]), g)
    out = capsys.readouterr().out
    assert out.count("⚠️ High drift: knowledge_base → response_generator") == 3
    assert "- john.smith@example.com (email)" in out and "(order_number)" in out
    g["session_id"] = "session-42"
    run(seed(AGENT_HEADINGS[3]), g)
    assert g["graph"].session_id == "session-42" and g["graph"].max_depth == 4
    assert g["networkx_data"]["nodes"] and g["d3_data"]["links"]
    g["nodes"], g["edges"] = g["graph"].nodes, g["graph"].edges
    run(seed(AGENT_HEADINGS[4]), g)
    out = capsys.readouterr().out
    assert g["bottlenecks"][0].agent_name == "knowledge_base"
    assert ": knowledge_base" in out and "P95 Latency" in out and "•" in out
    run(seed(AGENT_HEADINGS[5]), g)
    out = capsys.readouterr().out
    assert "Orchestrator + Classifier + Knowledge Base + Response Generator" in out
    assert "Performance: " in out and "Success Rate: 100.0%" in out


def test_quick_start(trace: Any, seed: Callable[..., str], run: Callable[[str, dict[str, Any]], None],
                     capsys: pytest.CaptureFixture[str]) -> None:
    from llamonitor.analytics.pipeline import run_analysis

    events = support_events(trace)
    pre = run_analysis(events, anomalies=False)  # glue: the snippet uses nodes / edges before defining them
    g: dict[str, Any] = {"__name__": "seed_snippet", "events": events, "session_id": None,
                         "nodes": pre.graph.nodes, "edges": pre.graph.edges}
    run(seed("Quick Start"), g)
    out = capsys.readouterr().out
    assert "Average handoff quality: " in out
    # odd runs: the knowledge base's notes, and so the orchestrator's delegation to the responder, lose them
    assert "⚠️ Found 6 handoffs with high drift!" in out
    pairs = sorted((a.from_agent, a.to_agent) for a in g["drift_detector"].get_high_drift_handoffs(threshold=0.4))
    assert pairs == [("knowledge_base", "response_generator")] * 3 + [("orchestrator", "response_generator")] * 3
    assert f"Max depth: 4, Critical path: {g['graph'].critical_path_ms}ms" in out
    assert g["bottlenecks"][0].agent_name == "knowledge_base"
    assert len(g["coalitions"]) == 1 and g["coalitions"][0].runs == 6
    assert g["coalitions"][0].success_rate == pytest.approx(5 / 6)
