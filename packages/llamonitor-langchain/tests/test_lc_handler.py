"""LlamonitorCallbackHandler on real LangChain runnables against the fake provider."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnableParallel
from langchain_core.tools import tool
from llamonitor import monitoring_session, monitoring_trace
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_langchain import LlamonitorCallbackHandler, instrument_langchain, uninstrument_langchain

from .conftest import make_chat


class _Docs(BaseRetriever):
    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return [d for d in self.docs if any(w in d.page_content for w in query.split())]


def _by(events: list[Any], op_type: str) -> list[Any]:
    return [e for e in events if e.operation_type == op_type]


def _prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("user", "{q}")])


def test_chain_tree_usage_model(fake_provider: FakeProvider, memory_monitoring: Any, chat: Any,
                                handler: LlamonitorCallbackHandler) -> None:
    fake_provider.reply(text="hi", input_tokens=11, output_tokens=3, cached_tokens=4, model="gpt-4o-mini-2024-07-18")
    out = (_prompt() | chat).invoke({"q": "x"}, config={"callbacks": [handler]})
    assert out.content == "hi"
    events = memory_monitoring.flush()
    (root,) = [e for e in events if e.operation_name == "RunnableSequence"]
    (llm,) = _by(events, "chat")
    (prompt,) = [e for e in events if e.operation_name == "ChatPromptTemplate"]
    assert root.parent_span_id is None
    assert llm.parent_span_id == root.span_id and prompt.parent_span_id == root.span_id
    assert {e.trace_id for e in events} == {root.trace_id}
    assert llm.model == "gpt-4o-mini" and llm.provider == "openai"
    assert llm.response_model == "gpt-4o-mini-2024-07-18"  # what answered, apart from what was asked
    assert (llm.usage.input_tokens, llm.usage.output_tokens, llm.usage.total_tokens,
            llm.usage.cached_input_tokens) == (11, 3, 14, 4)
    assert len(fake_provider.requests) == 1
    assert not handler._runs  # nothing leaks


async def test_async_and_context_inherited(fake_provider: FakeProvider, memory_monitoring: Any, chat: Any,
                                           handler: LlamonitorCallbackHandler) -> None:
    fake_provider.reply(text="a", input_tokens=5, output_tokens=2)
    with monitoring_session("user-1"), monitoring_trace("trace-1"):
        await (_prompt() | chat).ainvoke({"q": "x"}, config={"callbacks": [handler]})
    events = memory_monitoring.flush()
    assert {e.session_id for e in events} == {"user-1"}
    assert {e.trace_id for e in events} == {"trace-1"}
    (llm,) = _by(events, "chat")
    assert (llm.usage.input_tokens, llm.usage.output_tokens) == (5, 2)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_usage_and_ttft(fake_provider: FakeProvider, memory_monitoring: Any, mode: str,
                               handler: LlamonitorCallbackHandler) -> None:
    chat = make_chat(fake_provider, stream_usage=True)
    fake_provider.reply(text="one two three", input_tokens=9, output_tokens=3)
    chain = _prompt() | chat
    if mode == "sync":
        chunks = list(chain.stream({"q": "x"}, config={"callbacks": [handler]}))
    else:
        async def run() -> list[Any]:
            return [c async for c in chain.astream({"q": "x"}, config={"callbacks": [handler]})]
        chunks = asyncio.run(run())
    assert "".join(str(c.content) for c in chunks) == "one two three"
    (llm,) = _by(memory_monitoring.flush(), "chat")
    assert llm.custom_attributes["stream"] is True
    assert llm.custom_attributes["time_to_first_token_ms"] >= 0
    assert (llm.usage.input_tokens, llm.usage.output_tokens) == (9, 3)


@pytest.mark.parametrize(("status", "etype"), [(500, "OpenAIAPIError"), (429, "OpenAIRateLimitError")])
def test_errors(fake_provider: FakeProvider, memory_monitoring: Any, chat: Any, handler: LlamonitorCallbackHandler,
                status: int, etype: str) -> None:
    fake_provider.error(status, "boom")
    with pytest.raises(Exception) as info:
        (_prompt() | chat).invoke({"q": "x"}, config={"callbacks": [handler]})
    assert type(info.value).__name__ == etype
    events = memory_monitoring.flush()
    (llm,) = _by(events, "chat")
    assert llm.error and llm.error_type == etype and "boom" in (llm.error_message or "")
    assert llm.custom_attributes["http.response.status_code"] == status
    (root,) = [e for e in events if e.parent_span_id is None]
    assert root.error and root.error_type == etype
    assert not handler._runs


def test_retriever_tool_and_parallel(fake_provider: FakeProvider, memory_monitoring: Any, chat: Any,
                                     handler: LlamonitorCallbackHandler) -> None:
    retriever = _Docs(docs=[Document(page_content="cats purr"), Document(page_content="dogs bark"),
                            Document(page_content="cats nap")])

    @tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    fake_provider.reply(text="answer", input_tokens=20, output_tokens=4)
    chain = (
        RunnableParallel(context=retriever | RunnableLambda(lambda ds: " ".join(d.page_content for d in ds)),
                         q=RunnableLambda(lambda q: q))
        | ChatPromptTemplate.from_messages([("user", "{context} {q}")]) | chat
        | RunnableLambda(lambda m: shout.invoke(m.content))
    )
    assert chain.invoke("cats", config={"callbacks": [handler]}) == "ANSWER"
    events = memory_monitoring.flush()
    by_id = {e.span_id: e for e in events}
    (ret,) = _by(events, "retrieval")
    assert ret.custom_attributes["retrieval.documents"] == 2
    (parallel,) = [e for e in events if e.operation_name.startswith("RunnableParallel")]
    # the retriever runs in a pool thread inside its branch: its parent is the branch sequence, under the parallel
    assert by_id[ret.parent_span_id].parent_span_id == parallel.span_id
    (tool_ev,) = _by(events, "tool")
    assert tool_ev.operation_name == "tool shout"
    assert by_id[tool_ev.parent_span_id].operation_type == "chain"
    (root,) = [e for e in events if e.parent_span_id is None]
    for e in events:  # every event reaches the root through known parents
        while e.parent_span_id is not None:
            e = by_id[e.parent_span_id]
        assert e is root
    assert len(_by(events, "chat")) == 1


def test_global_instrumentation(fake_provider: FakeProvider, memory_monitoring: Any, chat: Any) -> None:
    fake_provider.reply(text="g", input_tokens=3, output_tokens=1)
    assert instrument_langchain() is True
    try:
        assert instrument_langchain() is False
        (_prompt() | chat).invoke({"q": "x"})
    finally:
        uninstrument_langchain()
    (_prompt() | chat).invoke({"q": "x"})  # not recorded any more
    events = memory_monitoring.flush()
    assert len(_by(events, "chat")) == 1
    assert len(fake_provider.requests) == 2


def test_handler_never_raises(memory_monitoring: Any, handler: LlamonitorCallbackHandler) -> None:
    import uuid

    handler.on_llm_end(object(), run_id=uuid.uuid4())
    handler.on_chain_start(None, {}, run_id=uuid.uuid4(), metadata={"langgraph_node": object()})
    handler.on_tool_end(None, run_id=uuid.uuid4())


def test_record_chains_false_keeps_tree(fake_provider: FakeProvider, memory_monitoring: Any, chat: Any) -> None:
    handler = LlamonitorCallbackHandler(record_chains=False)
    fake_provider.reply(text="x", input_tokens=2, output_tokens=1)
    inner = RunnableLambda(lambda d: d, name="inner") | _prompt() | chat
    (RunnableLambda(lambda d: d, name="outer") | inner).invoke({"q": "x"}, config={"callbacks": [handler]})
    events = memory_monitoring.flush()
    assert sorted(e.operation_type for e in events) == ["chain", "chat"]  # the root chain and the model
    (root,) = [e for e in events if e.operation_type == "chain"]
    (llm,) = _by(events, "chat")
    assert llm.parent_span_id == root.span_id
    assert not handler._runs and not handler._skipped


@pytest.mark.monitor_config(capture_content=True)
def test_content_captured_when_configured(fake_provider: FakeProvider, memory_monitoring: Any, chat: Any,
                                          handler: LlamonitorCallbackHandler) -> None:
    fake_provider.reply(text="pong", input_tokens=2, output_tokens=1)
    (_prompt() | chat).invoke({"q": "ping"}, config={"callbacks": [handler]})
    (llm,) = _by(memory_monitoring.flush(), "chat")
    assert llm.input_content == "human: ping" and llm.output_content == "pong"
    assert llm.system_instructions is None  # the prompt has no system message


@pytest.mark.monitor_config(capture_content=True)
def test_system_message_is_captured_apart(fake_provider: FakeProvider, memory_monitoring: Any, chat: Any,
                                          handler: LlamonitorCallbackHandler) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "Answer in one word."), ("user", "{q}")])
    (prompt | chat).invoke({"q": "ping"}, config={"callbacks": [handler]})
    (llm,) = _by(memory_monitoring.flush(), "chat")
    assert llm.system_instructions == "Answer in one word."
    assert llm.input_content == "system: Answer in one word.\nhuman: ping"


def test_content_not_captured_by_default(fake_provider: FakeProvider, memory_monitoring: Any, chat: Any,
                                         handler: LlamonitorCallbackHandler) -> None:
    (_prompt() | chat).invoke({"q": "ping"}, config={"callbacks": [handler]})
    (llm,) = _by(memory_monitoring.flush(), "chat")
    assert llm.input_content is None and llm.output_content is None and llm.system_instructions is None
