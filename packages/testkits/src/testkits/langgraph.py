"""The LangGraph graph the adapter's tests and the end-to-end tests run, and the replies it needs.

Imported by ``tests/test_lc_langgraph.py`` and by ``integration_tests/`` (via ``sys.path``), so the
graph under test is one definition.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from llamonitor.testing.fake_provider import FakeProvider, Reply


def make_chat(fake: FakeProvider, **kwargs: object) -> object:
    """A ChatOpenAI on the fake provider with its own async HTTP client (langchain-openai caches a
    default one across event loops, which breaks when each test has its own loop)."""
    import httpx
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test",  # type: ignore[arg-type]
                      max_retries=0, http_async_client=httpx.AsyncClient(), **kwargs)


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


def script(fake: FakeProvider) -> None:
    """The three replies one run of :func:`build`'s graph asks for."""
    fake.enqueue(Reply(text="", tool_calls=[("add", {"a": 2, "b": 3})], input_tokens=30, output_tokens=8),
                 Reply(text="The sum is 5.", input_tokens=45, output_tokens=5),
                 Reply(text="Five.", input_tokens=7, output_tokens=2))
