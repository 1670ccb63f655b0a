"""The issue's end-to-end LangGraph case with instrument_langchain() AND instrument_openai() active:
a three-node graph (agent -> conditional edge -> ToolNode -> agent -> summarize subgraph) run with
invoke, ainvoke and astream against the fake provider. Node names, handoffs in order, thread id as
session, exactly one LLM event per request the server received, token counts as sent."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor.tracing import is_suppressed
from llamonitor_langchain import instrument_langchain, uninstrument_langchain
from llamonitor_openai import instrument_openai, uninstrument_openai
from testkits.langgraph import build, script


@pytest.fixture
def both() -> Iterator[None]:
    instrument_openai()
    instrument_langchain()
    yield
    uninstrument_langchain()
    uninstrument_openai()


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "astream"])
def test_graph_with_sdk_patch_active(fake_provider: FakeProvider, memory_monitoring: Any, both: None,
                                     mode: str) -> None:
    script(fake_provider)
    graph = build(fake_provider)
    config: Any = {"configurable": {"thread_id": "thread-42"}}
    inputs = {"messages": [HumanMessage("what is 2+3?")]}
    if mode == "invoke":
        out = graph.invoke(inputs, config=config)
    elif mode == "ainvoke":
        out = asyncio.run(graph.ainvoke(inputs, config=config))
    else:
        async def run() -> Any:
            last = None
            async for chunk in graph.astream(inputs, config=config, stream_mode="values"):
                last = chunk
            return last
        out = asyncio.run(run())
    assert out["messages"][-1].content == "Five."
    events = memory_monitoring.flush()
    assert not is_suppressed()

    # thread id is the session of every event; one trace
    assert {e.session_id for e in events} == {"thread-42"}
    assert len({e.trace_id for e in events}) == 1

    nodes = [e for e in events if e.operation_type == "graph_node"]
    assert {e.agent.agent_name for e in nodes} == {"agent", "tools", "summarize", "polish"}
    assert {e.agent.agent_name for e in events if e.agent} == {"agent", "tools", "summarize", "polish"}
    assert all(e.agent.framework == "langgraph" for e in events if e.agent)

    # handoffs: the real transitions, in order (top level), none inside the one-node subgraph
    handoffs = sorted((e for e in events if e.operation_type == "handoff"), key=lambda e: e.start_time_ns)
    assert [(h.agent.handoff_from, h.agent.agent_name) for h in handoffs] == [
        ("agent", "tools"), ("tools", "agent"), ("agent", "summarize")]
    first_agent = min((e for e in nodes if e.agent.agent_name == "agent"), key=lambda e: e.start_time_ns)
    assert first_agent.agent.handoff_from is None
    (tools_node,) = [e for e in nodes if e.agent.agent_name == "tools"]
    assert tools_node.agent.handoff_from == "agent"
    assert tools_node.agent.graph_step == 2

    # LLM events: one per request, the node's identity, usage as sent
    llm = sorted((e for e in events if e.operation_type == "chat"), key=lambda e: e.start_time_ns)
    assert len(llm) == len(fake_provider.requests_to("/chat/completions")) == 3
    assert [e.agent.agent_name for e in llm] == ["agent", "agent", "polish"]
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in llm] == [(30, 8), (45, 5), (7, 2)]
    (tool_ev,) = [e for e in events if e.operation_type == "tool"]
    assert tool_ev.operation_name == "tool add" and tool_ev.agent.agent_name == "tools"

    # subgraph nests: polish -> (subgraph run) -> summarize node -> graph root
    by_id = {e.span_id: e for e in events}
    (polish,) = [e for e in nodes if e.agent.agent_name == "polish"]
    (summarize,) = [e for e in nodes if e.agent.agent_name == "summarize"]
    chain = []
    e = polish
    while e.parent_span_id is not None:
        e = by_id[e.parent_span_id]
        chain.append(e.span_id)
    assert summarize.span_id in chain
    assert "|" in polish.custom_attributes["langgraph_checkpoint_ns"]


