"""The multi-agent analyses on events from a real LangGraph run (fake provider on loopback):
they name the graph's real nodes, recorded by the adapter, not inferred from names."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import HumanMessage
from llamonitor.analytics.agents import (
    AgentDetector,
    BottleneckDetector,
    CoordinationGraphBuilder,
    HandoffAnalyzer,
)
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_langchain import instrument_langchain, uninstrument_langchain
from testkits.langgraph import build, script  # the adapter tests' graph


def test_analyses_name_the_real_langgraph_nodes(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    script(fake_provider)
    instrument_langchain()
    try:
        out = build(fake_provider).invoke({"messages": [HumanMessage("what is 2+3?")]},
                                          config={"configurable": {"thread_id": "thread-7"}})
    finally:
        uninstrument_langchain()
    assert out["messages"][-1].content == "Five."
    events = memory_monitoring.flush()

    async def analyse() -> tuple[Any, Any, Any, Any]:
        detector = AgentDetector()
        agents = await detector.detect_agents(events)
        operations = await detector.detect_agent_operations(events)
        handoffs = await HandoffAnalyzer().analyze_handoffs(operations, events)
        graph = await CoordinationGraphBuilder().build_graph(agents, operations, handoffs, "thread-7")
        bottlenecks = await BottleneckDetector().detect_bottlenecks(agents, operations, handoffs, graph.nodes,
                                                                    graph.edges)
        return agents, handoffs, graph, bottlenecks

    agents, handoffs, graph, bottlenecks = asyncio.run(analyse())
    names = {a.agent_name for a in agents}
    assert {"agent", "tools", "summarize", "polish"} <= names
    assert all(str(a.identity_source) != "inferred" for a in agents if a.agent_name in names)
    assert {(h.from_agent, h.to_agent) for h in handoffs} >= {("agent", "tools"), ("tools", "agent"),
                                                              ("agent", "summarize")}
    assert {n.id for n in graph.nodes} >= {"agent", "tools", "summarize", "polish"}
    assert {n.identity_source for n in graph.nodes if n.id in ("agent", "tools")} == {"recorded"}
    assert {b.agent_name for b in bottlenecks} <= names
