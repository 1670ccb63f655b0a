"""The issue's end-to-end LangGraph case with instrument_langchain() AND instrument_openai() active:
a three-node graph (agent -> conditional edge -> ToolNode -> agent -> summarize subgraph) run with
invoke, ainvoke and astream against the fake provider. Node names, handoffs in order, thread id as
session, exactly one LLM event per request the server received, token counts as sent."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import httpx
import pytest
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from llamonitor.testing.fake_provider import FakeProvider, Reply
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor.tracing import is_suppressed
from llamonitor_langchain import instrument_langchain, uninstrument_langchain
from llamonitor_openai import instrument_openai, uninstrument_openai


@pytest.fixture
def both() -> Iterator[None]:
    instrument_openai()
    instrument_langchain()
    yield
    uninstrument_langchain()
    uninstrument_openai()


def make_chat(fake: FakeProvider) -> Any:
    return ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test",  # type: ignore[arg-type]
                      max_retries=0, http_async_client=httpx.AsyncClient())


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def build(fake: FakeProvider) -> Any:
    """agent --(tool call?)--> tools --> agent --> summarize (a subgraph with one node: polish)."""
    llm = make_chat(fake).bind_tools([add])  # type: ignore[attr-defined]
    plain = make_chat(fake)

    def agent(state: State) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    async def aagent(state: State) -> dict[str, Any]:
        return {"messages": [await llm.ainvoke(state["messages"])]}

    def route(state: State) -> str:
        return "tools" if state["messages"][-1].tool_calls else "summarize"

    def polish(state: State) -> dict[str, Any]:
        return {"messages": [plain.invoke(state["messages"][-1].content)]}

    sub = StateGraph(State)
    sub.add_node("polish", polish)
    sub.add_edge(START, "polish")
    sub.add_edge("polish", END)

    from langchain_core.runnables import RunnableLambda

    g = StateGraph(State)
    g.add_node("agent", RunnableLambda(agent, afunc=aagent))
    g.add_node("tools", ToolNode([add]))
    g.add_node("summarize", sub.compile())
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", route, ["tools", "summarize"])
    g.add_edge("tools", "agent")
    g.add_edge("summarize", END)
    return g.compile()


def _script(fake: FakeProvider) -> None:
    fake.enqueue(Reply(text="", tool_calls=[("add", {"a": 2, "b": 3})], input_tokens=30, output_tokens=8),
                 Reply(text="The sum is 5.", input_tokens=45, output_tokens=5),
                 Reply(text="Five.", input_tokens=7, output_tokens=2))


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "astream"])
def test_graph_with_sdk_patch_active(fake_provider: FakeProvider, memory_monitoring: Any, both: None,
                                     mode: str) -> None:
    _script(fake_provider)
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


