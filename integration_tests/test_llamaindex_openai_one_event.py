"""Rule 2 across packages: LlamaIndex's OpenAI LLM with both instrument_llamaindex() and
instrument_openai() active yields exactly one LLM event per request (LlamaIndex's, carrying the
agent identity), for chat, streams, a query engine and a two-agent AgentWorkflow with a handoff."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai import OpenAI
from llamonitor.testing.fake_provider import FakeProvider, Reply
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor.tracing import is_suppressed
from llamonitor_llamaindex import instrument_llamaindex, uninstrument_llamaindex
from llamonitor_openai import instrument_openai, uninstrument_openai

LLM_TYPES = {"chat", "text_completion", "responses"}


@pytest.fixture
def both() -> Iterator[None]:
    instrument_openai()
    instrument_llamaindex()
    yield
    uninstrument_llamaindex()
    uninstrument_openai()


def _llm(fake: FakeProvider) -> OpenAI:
    return OpenAI(model="gpt-4o-mini", api_base=fake.openai_base_url, api_key="test", max_retries=0,
                  additional_kwargs={"stream_options": {"include_usage": True}})


def _llm_events(events: list[Any]) -> list[Any]:
    return sorted((e for e in events if e.operation_type in LLM_TYPES), key=lambda e: e.start_time_ns)


@pytest.mark.parametrize("mode", ["chat", "achat", "stream_chat", "astream_chat", "complete"])
def test_one_llm_event_per_request(fake_provider: FakeProvider, memory_monitoring: Any, both: None,
                                   mode: str) -> None:
    fake_provider.set_default(text="ok", input_tokens=13, output_tokens=2)
    llm = _llm(fake_provider)
    msgs = [ChatMessage(role="user", content="hi")]
    if mode == "chat":
        llm.chat(msgs)
    elif mode == "achat":
        asyncio.run(llm.achat(msgs))
    elif mode == "stream_chat":
        list(llm.stream_chat(msgs))
    elif mode == "astream_chat":
        async def run() -> None:
            async for _ in await llm.astream_chat(msgs):
                pass
        asyncio.run(run())
    else:
        llm.complete("hi")
    assert not is_suppressed()
    llm_events = _llm_events(memory_monitoring.flush())
    assert len(llm_events) == len(fake_provider.requests_to("/chat/completions")) == 1
    assert llm_events[0].custom_attributes.get("llamaindex.span")  # LlamaIndex's event, not the SDK's
    assert (llm_events[0].usage.input_tokens, llm_events[0].usage.output_tokens) == (13, 2)


def test_stream_error_releases_suppression(fake_provider: FakeProvider, memory_monitoring: Any,
                                           both: None) -> None:
    import openai

    fake_provider.error(500, "down")
    with pytest.raises(openai.InternalServerError):
        list(_llm(fake_provider).stream_chat([ChatMessage(role="user", content="hi")]))
    assert not is_suppressed()
    (event,) = _llm_events(memory_monitoring.flush())
    assert event.error and event.error_type == "InternalServerError"


def test_query_engine(fake_provider: FakeProvider, memory_monitoring: Any, both: None) -> None:
    fake_provider.reply(text="Cats purr.", input_tokens=40, output_tokens=3)
    index = VectorStoreIndex.from_documents([Document(text="cats purr"), Document(text="dogs bark")],
                                            embed_model=MockEmbedding(embed_dim=8))
    engine = index.as_query_engine(llm=_llm(fake_provider), similarity_top_k=1)
    assert str(engine.query("cats?")) == "Cats purr."
    events = memory_monitoring.flush()
    (chat,) = _llm_events(events)
    (query,) = [e for e in events if e.operation_type == "query"]
    assert chat.trace_id == query.trace_id
    assert (chat.usage.input_tokens, chat.usage.output_tokens) == (40, 3)
    assert len(fake_provider.requests_to("/chat/completions")) == 1


def test_agent_workflow_handoff(fake_provider: FakeProvider, memory_monitoring: Any, both: None) -> None:
    from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    fake_provider.enqueue(
        Reply(text="", tool_calls=[("handoff", {"to_agent": "math", "reason": "needs math"})],
              input_tokens=30, output_tokens=9),
        Reply(text="", tool_calls=[("add", {"a": 2, "b": 3})], input_tokens=50, output_tokens=8),
        Reply(text="5", input_tokens=60, output_tokens=1))
    llm = _llm(fake_provider)
    triage = FunctionAgent(name="triage", description="routes", system_prompt="route", llm=llm,
                           can_handoff_to=["math"])
    math = FunctionAgent(name="math", description="adds", system_prompt="add", llm=llm, tools=[add])
    workflow = AgentWorkflow(agents=[triage, math], root_agent="triage")

    async def run() -> Any:
        return await workflow.run(user_msg="2+3?")

    assert str(asyncio.run(run())) == "5"
    events = memory_monitoring.flush()
    llm_events = _llm_events(events)
    assert len(llm_events) == len(fake_provider.requests_to("/chat/completions")) == 3
    assert [e.agent.agent_name for e in llm_events] == ["triage", "math", "math"]
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in llm_events] == [(30, 9), (50, 8), (60, 1)]
    assert [(e.agent.handoff_from, e.agent.agent_name) for e in events if e.operation_type == "handoff"] == [
        ("triage", "math")]
    assert {e.agent.agent_name for e in events if e.agent} == {"triage", "math"}


def test_direct_sdk_call_in_agent_tool_carries_agent(fake_provider: FakeProvider, memory_monitoring: Any,
                                                     both: None) -> None:
    """A tool that calls the OpenAI SDK itself: that call is recorded by the SDK patch, nested under
    the tool's span and attributed to the agent that called the tool."""
    import openai
    from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent

    client = openai.AsyncOpenAI(base_url=fake_provider.openai_base_url, api_key="test")

    async def ask_expert(question: str) -> str:
        """Ask the expert model."""
        r = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": question}])
        return r.choices[0].message.content or ""

    fake_provider.enqueue(
        Reply(text="", tool_calls=[("ask_expert", {"question": "why?"})], input_tokens=11, output_tokens=5),
        Reply(text="because", input_tokens=3, output_tokens=1),   # the tool's own SDK call
        Reply(text="Because.", input_tokens=20, output_tokens=2))
    agent = FunctionAgent(name="researcher", description="asks", system_prompt="ask", llm=_llm(fake_provider),
                          tools=[ask_expert])
    workflow = AgentWorkflow(agents=[agent], root_agent="researcher")

    async def run() -> Any:
        try:
            return await workflow.run(user_msg="why?")
        finally:
            await client.close()

    assert str(asyncio.run(run())) == "Because."
    events = memory_monitoring.flush()
    llm_events = _llm_events(events)
    assert len(llm_events) == len(fake_provider.requests_to("/chat/completions")) == 3
    (sdk,) = [e for e in llm_events if not e.custom_attributes.get("llamaindex.span")]
    (tool,) = [e for e in events if e.operation_type == "tool"]
    assert sdk.parent_span_id == tool.span_id and sdk.trace_id == tool.trace_id
    assert sdk.agent.agent_name == "researcher" and sdk.model.startswith("gpt-4o")
    assert (sdk.usage.input_tokens, sdk.usage.output_tokens) == (3, 1)
