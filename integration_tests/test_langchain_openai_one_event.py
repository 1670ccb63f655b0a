"""Rule 2 across packages: LangChain's ChatOpenAI with both instrument_langchain() and
instrument_openai() active yields exactly one LLM event per request (the framework's, which
carries the run tree and agent identity); the SDK patch is suppressed inside the model run."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import httpx
import pytest
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from llamonitor.testing.fake_provider import FakeProvider, Reply
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor.tracing import is_suppressed
from llamonitor_langchain import instrument_langchain, uninstrument_langchain
from llamonitor_openai import instrument_openai, uninstrument_openai

LLM_TYPES = {"chat", "text_completion", "responses", "embeddings"}


class TextState(TypedDict):
    text: str


class S(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


@pytest.fixture
def both() -> Iterator[None]:
    instrument_openai()
    instrument_langchain()
    yield
    uninstrument_langchain()
    uninstrument_openai()


def _chat(fake: FakeProvider, **kw: Any) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test",  # type: ignore[arg-type]
                      max_retries=0, http_async_client=httpx.AsyncClient(), **kw)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream", "batch"])
def test_one_llm_event_per_request(fake_provider: FakeProvider, memory_monitoring: Any, both: None,
                                   mode: str) -> None:
    fake_provider.set_default(text="ok", input_tokens=13, output_tokens=2)
    chat = _chat(fake_provider, stream_usage=True)
    if mode == "invoke":
        chat.invoke("hi")
    elif mode == "ainvoke":
        asyncio.run(chat.ainvoke("hi"))
    elif mode == "stream":
        list(chat.stream("hi"))
    elif mode == "astream":
        async def run() -> None:
            async for _ in chat.astream("hi"):
                pass
        asyncio.run(run())
    else:
        chat.batch(["a", "b", "c"])
    assert not is_suppressed()  # nothing leaks into the caller's context
    events = memory_monitoring.flush()
    llm = [e for e in events if e.operation_type in LLM_TYPES]
    requests = fake_provider.requests_to("/chat/completions")
    assert len(llm) == len(requests) == (3 if mode == "batch" else 1)
    for e in llm:
        assert e.custom_attributes["langchain.run_type"] == "chat_model"  # the framework's event
        assert (e.usage.input_tokens, e.usage.output_tokens) == (13, 2)


def test_sdk_still_recorded_outside_langchain(fake_provider: FakeProvider, memory_monitoring: Any,
                                              both: None) -> None:
    import openai

    _chat(fake_provider).invoke("hi")
    with openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="test") as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    llm = [e for e in memory_monitoring.flush() if e.operation_type in LLM_TYPES]
    assert sorted(bool(e.custom_attributes.get("langchain.run_type")) for e in llm) == [False, True]


def test_error_one_event(fake_provider: FakeProvider, memory_monitoring: Any, both: None) -> None:
    fake_provider.error(500, "down")
    from langchain_openai.chat_models.base import OpenAIAPIError

    with pytest.raises(OpenAIAPIError):
        _chat(fake_provider).invoke("hi")
    assert not is_suppressed()
    llm = [e for e in memory_monitoring.flush() if e.operation_type in LLM_TYPES]
    assert len(llm) == 1 and llm[0].error


def test_direct_sdk_call_in_langgraph_node_carries_node_identity(fake_provider: FakeProvider,
                                                                 memory_monitoring: Any, both: None) -> None:
    """A node that calls the OpenAI SDK directly (no LangChain model): the SDK event is the only
    LLM event, nested under the node's run, with the node as its agent."""
    import openai

    client = openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="test")

    def writer(state: TextState) -> TextState:
        r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        return {"text": r.choices[0].message.content or ""}

    g = StateGraph(TextState)
    g.add_node("writer", writer)
    g.add_edge(START, "writer")
    g.add_edge("writer", END)
    fake_provider.reply(text="done", input_tokens=4, output_tokens=1)
    assert g.compile().invoke({"text": ""}, config={"configurable": {"thread_id": "t-9"}}) == {"text": "done"}
    events = memory_monitoring.flush()
    (sdk,) = [e for e in events if e.operation_type in LLM_TYPES]
    (node,) = [e for e in events if e.operation_type == "graph_node"]
    assert sdk.parent_span_id == node.span_id and sdk.trace_id == node.trace_id
    assert sdk.agent.agent_name == "writer" and sdk.session_id == "t-9"
    assert (sdk.usage.input_tokens, sdk.usage.output_tokens) == (4, 1)
    client.close()


@pytest.mark.parametrize("stream_mode", ["messages", "updates"])
def test_langgraph_astream_one_event_per_request(fake_provider: FakeProvider, memory_monitoring: Any, both: None,
                                                 stream_mode: str) -> None:
    """LangGraph streaming ``messages`` makes the node's model stream token by token."""
    chat = _chat(fake_provider, stream_usage=True)

    async def think(state: S) -> dict[str, Any]:
        return {"messages": [await chat.ainvoke(state["messages"])]}

    async def answer(state: S) -> dict[str, Any]:
        return {"messages": [await chat.ainvoke(state["messages"])]}

    g = StateGraph(S)
    g.add_node("think", think)
    g.add_node("answer", answer)
    g.add_edge(START, "think")
    g.add_edge("think", "answer")
    g.add_edge("answer", END)
    graph = g.compile()
    fake_provider.enqueue(Reply(text="hmm", input_tokens=6, output_tokens=1),
                          Reply(text="done", input_tokens=9, output_tokens=1))

    async def run() -> None:
        async for _ in graph.astream({"messages": [HumanMessage("q")]}, stream_mode=stream_mode):
            pass

    asyncio.run(run())
    assert not is_suppressed()
    events = memory_monitoring.flush()
    llm = sorted((e for e in events if e.operation_type in LLM_TYPES), key=lambda e: e.start_time_ns)
    assert len(llm) == len(fake_provider.requests_to("/chat/completions")) == 2
    assert [e.agent.agent_name for e in llm] == ["think", "answer"]
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in llm] == [(6, 1), (9, 1)]
    if stream_mode == "messages":
        assert all(e.custom_attributes.get("stream") for e in llm)
    assert [(e.agent.handoff_from, e.agent.agent_name) for e in events if e.operation_type == "handoff"] == [
        ("think", "answer")]
