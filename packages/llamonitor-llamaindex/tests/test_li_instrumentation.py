"""instrument_llamaindex() on real LlamaIndex components against the fake provider."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import ChatMessage
from llamonitor import monitoring_session
from llamonitor.testing.fake_provider import FakeProvider, Reply
from llamonitor_llamaindex import instrument_llamaindex, is_instrumented, uninstrument_llamaindex


def _of(events: list[Any], op_type: str) -> list[Any]:
    return [e for e in events if e.operation_type == op_type]


def test_chat_sync_async_usage(fake_provider: FakeProvider, memory_monitoring: Any, instrumented: None,
                               llm: Any) -> None:
    fake_provider.enqueue(Reply(text="a", input_tokens=10, output_tokens=2, cached_tokens=3,
                                model="gpt-4o-mini-2024-07-18"),
                          Reply(text="b", input_tokens=20, output_tokens=4))
    with monitoring_session("s-1"):
        assert llm.chat([ChatMessage(role="user", content="hi")]).message.content == "a"
        assert asyncio.run(llm.achat([ChatMessage(role="user", content="hi")])).message.content == "b"
    chats = sorted(_of(memory_monitoring.flush(), "chat"), key=lambda e: e.start_time_ns)
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in chats] == [(10, 2), (20, 4)]
    assert chats[0].usage.cached_input_tokens == 3
    assert {e.session_id for e in chats} == {"s-1"}
    assert chats[0].model == "gpt-4o-mini" and chats[0].provider == "openai"
    assert chats[0].response_model == "gpt-4o-mini-2024-07-18"


def test_stream_chat_deferred_until_end(fake_provider: FakeProvider, memory_monitoring: Any, instrumented: None,
                                        llm: Any) -> None:
    fake_provider.reply(text="one two", input_tokens=5, output_tokens=2)
    text = "".join(c.delta or "" for c in llm.stream_chat([ChatMessage(role="user", content="hi")]))
    assert text == "one two"
    (chat,) = _of(memory_monitoring.flush(), "chat")
    assert chat.custom_attributes["stream"] is True
    assert chat.custom_attributes["time_to_first_token_ms"] >= 0


def test_query_engine_tree(fake_provider: FakeProvider, memory_monitoring: Any, instrumented: None,
                           llm: Any) -> None:
    fake_provider.reply(text="Cats purr.", input_tokens=40, output_tokens=3)
    index = VectorStoreIndex.from_documents([Document(text="cats purr"), Document(text="dogs bark"),
                                             Document(text="birds sing")], embed_model=MockEmbedding(embed_dim=8))
    memory_monitoring.flush()
    memory_monitoring.clear()
    engine = index.as_query_engine(llm=llm, similarity_top_k=2)
    assert str(engine.query("what do cats do?")) == "Cats purr."
    events = memory_monitoring.flush()
    by_id = {e.span_id: e for e in events}
    (query,) = _of(events, "query")
    (ret,) = _of(events, "retrieval")
    (emb,) = _of(events, "embeddings")
    (chat,) = _of(events, "chat")
    (synth,) = _of(events, "synthesize")
    assert query.parent_span_id is None
    assert ret.parent_span_id == query.span_id and synth.parent_span_id == query.span_id
    assert emb.parent_span_id == ret.span_id
    assert chat.parent_span_id == synth.span_id
    assert ret.custom_attributes["retrieval.documents"] == 2
    assert (chat.usage.input_tokens, chat.usage.output_tokens) == (40, 3)
    assert {e.trace_id for e in events} == {query.trace_id}
    assert all(e.parent_span_id is None or e.parent_span_id in by_id for e in events)
    assert len(fake_provider.requests_to("/chat/completions")) == 1


def test_error_recorded(fake_provider: FakeProvider, memory_monitoring: Any, instrumented: None, llm: Any) -> None:
    import openai

    fake_provider.error(429, "slow down")
    with pytest.raises(openai.RateLimitError):
        llm.chat([ChatMessage(role="user", content="hi")])
    (chat,) = _of(memory_monitoring.flush(), "chat")
    assert chat.error and chat.error_type == "RateLimitError"


def test_agent_workflow_handoff(fake_provider: FakeProvider, memory_monitoring: Any, instrumented: None,
                                llm: Any) -> None:
    from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    fake_provider.enqueue(
        Reply(text="", tool_calls=[("handoff", {"to_agent": "math", "reason": "needs math"})],
              input_tokens=30, output_tokens=9),
        Reply(text="", tool_calls=[("add", {"a": 2, "b": 3})], input_tokens=50, output_tokens=8),
        Reply(text="5", input_tokens=60, output_tokens=1))
    triage = FunctionAgent(name="triage", description="routes", system_prompt="route", llm=llm,
                           can_handoff_to=["math"])
    math = FunctionAgent(name="math", description="adds", system_prompt="add", llm=llm, tools=[add])
    workflow = AgentWorkflow(agents=[triage, math], root_agent="triage")

    async def run() -> Any:
        return await workflow.run(user_msg="2+3?")

    assert str(asyncio.run(run())) == "5"
    events = memory_monitoring.flush()
    handoffs = [e for e in events if e.operation_type == "handoff"]
    assert [(h.agent.handoff_from, h.agent.agent_name) for h in handoffs] == [("triage", "math")]
    chats = sorted(_of(events, "chat"), key=lambda e: e.start_time_ns)
    assert len(chats) == len(fake_provider.requests_to("/chat/completions")) == 3
    assert [e.agent.agent_name for e in chats] == ["triage", "math", "math"]
    assert [(e.usage.input_tokens, e.usage.output_tokens) if e.usage else None for e in chats] == [
        (30, 9), (50, 8), (60, 1)]
    tools = sorted(_of(events, "tool"), key=lambda e: e.start_time_ns)
    assert [(t.operation_name, t.agent.agent_name) for t in tools] == [("tool handoff", "triage"),
                                                                       ("tool add", "math")]
    assert {e.agent.agent_name for e in events if e.agent} == {"triage", "math"}
    (wf,) = _of(events, "workflow")
    assert {e.trace_id for e in events} == {wf.trace_id}


def test_instrument_idempotent_and_removable(memory_monitoring: Any) -> None:
    assert instrument_llamaindex() is True
    assert instrument_llamaindex() is False and is_instrumented()
    uninstrument_llamaindex()
    assert not is_instrumented()
    from llama_index.core.instrumentation import get_dispatcher

    assert not any(type(h).__name__.startswith("Llamonitor") for h in get_dispatcher().span_handlers)


@pytest.mark.monitor_config(capture_content=True)
def test_content_captured_when_configured(fake_provider: FakeProvider, memory_monitoring: Any, instrumented: None,
                                          llm: Any) -> None:
    fake_provider.enqueue(Reply(text="pong"), Reply(text="po"))
    llm.chat([ChatMessage(role="user", content="ping")])
    list(llm.stream_chat([ChatMessage(role="user", content="pi")]))
    chats = sorted(_of(memory_monitoring.flush(), "chat"), key=lambda e: e.start_time_ns)
    assert [(e.input_content, e.output_content) for e in chats] == [("user: ping", "pong"), ("user: pi", "po")]


def test_content_not_captured_by_default(fake_provider: FakeProvider, memory_monitoring: Any, instrumented: None,
                                         llm: Any) -> None:
    llm.chat([ChatMessage(role="user", content="ping")])
    (chat,) = _of(memory_monitoring.flush(), "chat")
    assert chat.input_content is None and chat.output_content is None
