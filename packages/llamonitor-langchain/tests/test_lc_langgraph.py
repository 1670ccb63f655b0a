"""LangGraph: node identities, handoffs, thread id as session, subgraphs, invoke / ainvoke / astream."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_langchain import LlamonitorCallbackHandler
from testkits.langgraph import build, script


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "astream"])
def test_graph_identities_handoffs_session(fake_provider: FakeProvider, memory_monitoring: Any, mode: str) -> None:
    script(fake_provider)
    graph = build(fake_provider)
    handler = LlamonitorCallbackHandler()
    config: Any = {"callbacks": [handler], "configurable": {"thread_id": "thread-42"}}
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
    assert not handler._runs

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


def test_parallel_branches_keep_parents(memory_monitoring: Any) -> None:
    class S(TypedDict):
        log: Annotated[list[str], operator.add]

    def mk(name: str) -> Any:
        def fn(s: S) -> dict[str, Any]:
            from langchain_core.runnables import RunnableLambda

            RunnableLambda(lambda x: x, name=f"inner_{name}").invoke(1)
            return {"log": [name]}
        return fn

    g = StateGraph(S)
    for n in ("start", "left", "right", "join"):
        g.add_node(n, mk(n))
    g.add_edge(START, "start")
    g.add_edge("start", "left")
    g.add_edge("start", "right")
    g.add_edge("left", "join")
    g.add_edge("right", "join")
    g.add_edge("join", END)
    handler = LlamonitorCallbackHandler()
    g.compile().invoke({"log": []}, config={"callbacks": [handler]})
    events = memory_monitoring.flush()
    by_id = {e.span_id: e for e in events}
    for side in ("left", "right"):
        (inner,) = [e for e in events if e.operation_name == f"inner_{side}"]
        assert inner.agent.agent_name == side
        node = by_id[inner.parent_span_id]
        while node.operation_type != "graph_node":
            node = by_id[node.parent_span_id]
        assert node.agent.agent_name == side
    pairs = {(e.agent.handoff_from, e.agent.agent_name) for e in events if e.operation_type == "handoff"}
    assert pairs == {("start", "left"), ("start", "right"), ("left", "join"), ("right", "join")}
