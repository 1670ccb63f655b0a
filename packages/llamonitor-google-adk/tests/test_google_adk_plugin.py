"""Real Google ADK runs against the fake provider's Gemini endpoints: agents, transfers, tools, usage, errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.tracing import is_suppressed, start_span
from testkits.google_adk import MODEL, final_text, gemini, run, script_transfer, shop


def _by_type(events: list[Any], op: str) -> list[Any]:
    return sorted((e for e in events if e.operation_type == op), key=lambda e: e.start_time_ns)


@pytest.mark.usefixtures("adk_instrumented")
@pytest.mark.parametrize("stream", [False, True], ids=["generate", "sse_stream"])
async def test_transfer_tool_and_usage(fake_provider: FakeProvider, memory_monitoring: Any, stream: bool) -> None:
    script_transfer(fake_provider)
    adk_events, _ = await run(shop(fake_provider), stream=stream)
    assert final_text(adk_events) == "Your order 42 has shipped."
    suffix = ":streamGenerateContent" if stream else ":generateContent"
    assert [r.path.split("?")[0] for r in fake_provider.requests] == [f"/v1beta/models/{MODEL}{suffix}"] * 3
    events = memory_monitoring.flush()
    assert not is_suppressed()
    by_span = {e.span_id: e for e in events}

    (run_event,) = _by_type(events, "workflow")
    assert run_event.operation_name == "google_adk.run shop" and run_event.agent is None
    assert {e.trace_id for e in events} == {run_event.trace_id}
    assert run_event.custom_attributes["google_adk.root_agent"] == "Coordinator"
    # no llamonitor session around the call: the ADK session is the session of every event
    assert {e.session_id for e in events} == {run_event.custom_attributes["google_adk.session_id"]}

    agents = _by_type(events, "agent")
    assert [(a.agent.agent_name, a.agent.handoff_from) for a in agents] == [("Coordinator", None),
                                                                            ("Billing", "Coordinator")]
    assert all(a.agent.framework == "google-adk" and a.parent_span_id == run_event.span_id for a in agents)
    assert agents[1].custom_attributes["gen_ai.agent.description"] == "Billing questions: orders, invoices."
    # ADK 2 ends the transferring agent without after_agent: it ends where its last step ended
    coordinator, billing = agents
    assert coordinator.end_time_ns <= billing.start_time_ns

    llm = _by_type(events, "chat")
    assert len(llm) == len(fake_provider.requests) == 3
    assert [(e.usage.input_tokens, e.usage.output_tokens, e.usage.source) for e in llm] == [
        (40, 6, "provider"), (50, 8, "provider"), (60, 9, "provider")]
    assert [(e.agent.agent_name, e.agent.handoff_from) for e in llm] == [
        ("Coordinator", None), ("Billing", "Coordinator"), ("Billing", "Coordinator")]
    assert [by_span[e.parent_span_id].operation_name for e in llm] == [
        "invoke_agent Coordinator", "invoke_agent Billing", "invoke_agent Billing"]
    assert all(e.model == MODEL and e.provider == "gcp.gemini" and e.operation_name == f"chat {MODEL}" for e in llm)
    assert all(e.response_model for e in llm)  # the response's model_version
    assert all(e.custom_attributes["finish_reason"] == "STOP" for e in llm)
    assert all(e.cost is not None and e.cost.total_cost_usd > 0 for e in llm)  # priced from the table
    # Tokens stored once: only model calls carry usage.
    assert sum(e.usage.input_tokens for e in events if e.usage) == 150

    (handoff,) = _by_type(events, "handoff")
    assert handoff.operation_name == "transfer_to_agent Billing"
    assert handoff.custom_attributes["google_adk.from_agent"] == "Coordinator"
    assert handoff.custom_attributes["google_adk.to_agent"] == "Billing"
    assert handoff.agent.agent_name == "Coordinator" and handoff.parent_span_id == coordinator.span_id
    (tool,) = _by_type(events, "tool")
    assert tool.operation_name == "execute_tool lookup_order"
    assert tool.custom_attributes["gen_ai.tool.name"] == "lookup_order"
    assert (tool.agent.agent_name, tool.parent_span_id) == ("Billing", billing.span_id)
    # every event but the run is some agent's work, under its real name
    assert {e.agent.agent_name for e in events if e is not run_event} == {"Coordinator", "Billing"}
    assert not any(e.error for e in events)


@pytest.mark.usefixtures("adk_instrumented")
async def test_llamonitor_session_and_span_around_the_run(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    import llamonitor

    fake_provider.reply(text="hi", input_tokens=3, output_tokens=1)
    agent = shop(fake_provider)
    with llamonitor.monitoring_session("conversation-7"):
        outer = start_span("handle_request", operation_type="request")
        with outer.activate():
            await run(agent, "hello")
        outer.end()
    events = memory_monitoring.flush()
    (run_event,) = _by_type(events, "workflow")
    assert run_event.parent_span_id == outer.span_id and run_event.trace_id == outer.trace_id
    assert {e.session_id for e in events} == {"conversation-7"}
    assert {e.trace_id for e in events} == {outer.trace_id}


@pytest.mark.usefixtures("adk_instrumented")
async def test_tool_work_nests_under_the_tool_span(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    def lookup_order(order_id: str) -> str:
        """Look an order up."""
        inner = start_span("db.query", operation_type="retrieval")  # the user's own instrumentation
        inner.end()
        return f"order {order_id}: shipped"

    script_transfer(fake_provider)
    await run(shop(fake_provider, tools=[lookup_order]))
    events = memory_monitoring.flush()
    (tool,) = _by_type(events, "tool")
    (query,) = _by_type(events, "retrieval")
    assert query.parent_span_id == tool.span_id and query.trace_id == tool.trace_id
    assert query.agent.agent_name == "Billing"


@pytest.mark.usefixtures("adk_instrumented")
async def test_model_errors_and_rate_limit(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from google.genai import errors

    agent = shop(fake_provider)
    fake_provider.error(429, "quota exhausted", retry_after=0)
    with pytest.raises(errors.ClientError) as caught:
        await run(agent, "first")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    fake_provider.error(500, "backend down")
    with pytest.raises(errors.ServerError) as caught_500:
        await run(agent, "second")
    assert not is_suppressed()
    events = memory_monitoring.flush()
    llm = _by_type(events, "chat")
    # the exception the model raised into ADK (ADK wraps a 429 in its own ClientError subclass)
    assert [(e.error, e.error_type, e.agent.agent_name) for e in llm] == [
        (True, type(caught.value).__name__, "Coordinator"), (True, type(caught_500.value).__name__, "Coordinator")]
    assert "quota exhausted" in llm[0].error_message
    runs = _by_type(events, "workflow")
    assert [r.error for r in runs] == [True, True]
    assert len(fake_provider.requests) == 2


@pytest.mark.usefixtures("adk_instrumented")
async def test_tool_error_propagates_and_is_recorded(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    class OrderDbDown(RuntimeError):
        pass

    def lookup_order(order_id: str) -> str:
        """Look an order up."""
        raise OrderDbDown(f"cannot read order {order_id}")

    script_transfer(fake_provider)
    with pytest.raises(OrderDbDown):
        await run(shop(fake_provider, tools=[lookup_order]))
    events = memory_monitoring.flush()
    (tool,) = _by_type(events, "tool")
    assert (tool.error, tool.error_type, tool.agent.agent_name) == (True, "OrderDbDown", "Billing")
    assert _by_type(events, "workflow")[0].error is True
    assert len(_by_type(events, "chat")) == len(fake_provider.requests) == 2


@pytest.mark.usefixtures("adk_instrumented")
@pytest.mark.monitor_config(capture_content=True)
async def test_content_capture(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    script_transfer(fake_provider)
    await run(shop(fake_provider))
    events = memory_monitoring.flush()
    llm = _by_type(events, "chat")
    assert "where is order 42?" in llm[0].input_content and "Route the customer." in llm[0].input_content
    assert llm[0].output_content.startswith("transfer_to_agent(")
    assert llm[2].output_content == "Your order 42 has shipped."
    (tool,) = _by_type(events, "tool")
    assert tool.input_content == "{'order_id': '42'}" and tool.output_content == "order 42: shipped"


async def test_capture_forced_off_by_the_option(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from llamonitor_google_adk import instrument_google_adk, uninstrument_google_adk

    instrument_google_adk(capture_content=False)
    try:
        fake_provider.reply(text="secret answer")
        await run(shop(fake_provider), "my secret question")
    finally:
        uninstrument_google_adk()
    (llm,) = _by_type(memory_monitoring.flush(), "chat")
    assert llm.input_content is None and llm.output_content is None


async def test_explicit_plugin_without_instrument(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from google.adk.apps import App
    from google.adk.runners import InMemoryRunner
    from llamonitor_google_adk import PLUGIN_NAME, adk_plugin, instrument_google_adk, uninstrument_google_adk

    fake_provider.reply(text="hi", input_tokens=4, output_tokens=2)
    runner = InMemoryRunner(app=App(name="shop", root_agent=shop(fake_provider), plugins=[adk_plugin()]))
    await run(None, "hello", runner=runner)
    (llm,) = _by_type(memory_monitoring.flush(), "chat")
    assert (llm.agent.agent_name, llm.usage.input_tokens) == ("Coordinator", 4)
    memory_monitoring.clear()
    # also instrumented: the runner still has one llamonitor plugin, each request is one event
    instrument_google_adk()
    try:
        runner = InMemoryRunner(app=App(name="shop", root_agent=shop(fake_provider), plugins=[adk_plugin()]))
        assert [p.name for p in runner.plugin_manager.plugins] == [PLUGIN_NAME]
        fake_provider.reply(text="hi again")
        await run(None, "hello", runner=runner)
    finally:
        uninstrument_google_adk()
    assert len(_by_type(memory_monitoring.flush(), "chat")) == 1


async def test_instrument_twice_and_uninstrument(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from google.adk.runners import InMemoryRunner
    from llamonitor_google_adk import instrument_google_adk, is_instrumented, uninstrument_google_adk

    assert instrument_google_adk() is True
    assert instrument_google_adk() is False
    built_while_on = InMemoryRunner(agent=shop(fake_provider), app_name="shop")
    assert [p.name for p in built_while_on.plugin_manager.plugins] == ["llamonitor"]
    uninstrument_google_adk()
    uninstrument_google_adk()
    assert not is_instrumented()
    built_after = InMemoryRunner(agent=shop(fake_provider), app_name="shop")
    assert built_after.plugin_manager.plugins == []
    fake_provider.reply(text="a")
    await run(None, runner=built_while_on)  # its plugin stays but records nothing
    fake_provider.reply(text="b")
    await run(None, runner=built_after)
    assert memory_monitoring.flush() == []
    assert len(fake_provider.requests) == 2


@pytest.mark.usefixtures("adk_instrumented")
async def test_a_failing_recorder_never_breaks_the_run(fake_provider: FakeProvider, memory_monitoring: Any,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from llamonitor.instrumentation import adapter as contract
    from llamonitor_google_adk import _adapter

    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(_adapter.recorder, "start_model", broken)
    monkeypatch.setattr(_adapter.recorder, "start_tool", broken)
    warned = contract._WARNED.setdefault("google_adk", set())
    saved = set(warned)
    warned.clear()  # warn-once keys live for the process: this test needs this adapter's first reports
    try:
        script_transfer(fake_provider)
        with caplog.at_level(logging.WARNING, logger="llamonitor.google_adk"):
            adk_events, _ = await run(shop(fake_provider))
            script_transfer(fake_provider)
            await run(shop(fake_provider))
    finally:
        warned |= saved
    assert final_text(adk_events) == "Your order 42 has shipped."
    warnings = [r for r in caplog.records if r.name == "llamonitor.google_adk"]
    assert len(warnings) == 2 and "KeyError('boom')" in warnings[0].getMessage()  # once per hook, not per call
    events = memory_monitoring.flush()
    assert [a.agent.agent_name for a in _by_type(events, "agent")] == ["Coordinator", "Billing"] * 2
    assert _by_type(events, "chat") == [] and not is_suppressed()


@pytest.mark.usefixtures("adk_instrumented")
async def test_workflow_agents_parent_their_sub_agents(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from google.adk.agents import LlmAgent, ParallelAgent, SequentialAgent

    def agent(name: str) -> LlmAgent:
        return LlmAgent(name=name, model=gemini(fake_provider), instruction=f"you are {name}")

    pipeline = SequentialAgent(name="Pipeline", sub_agents=[
        agent("Drafter"), ParallelAgent(name="Reviews", sub_agents=[agent("Legal"), agent("Style")])])
    for text in ("draft", "legal ok", "style ok"):
        fake_provider.reply(text=text, input_tokens=10, output_tokens=2)
    await run(pipeline, "write it")
    events = memory_monitoring.flush()
    by_name = {e.agent.agent_name: e for e in _by_type(events, "agent")}
    assert set(by_name) == {"Pipeline", "Drafter", "Reviews", "Legal", "Style"}
    assert by_name["Drafter"].parent_span_id == by_name["Pipeline"].span_id
    assert by_name["Reviews"].parent_span_id == by_name["Pipeline"].span_id
    assert by_name["Legal"].parent_span_id == by_name["Style"].parent_span_id == by_name["Reviews"].span_id
    llm = _by_type(events, "chat")
    assert sorted(e.agent.agent_name for e in llm) == ["Drafter", "Legal", "Style"]
    assert all(e.parent_span_id == by_name[e.agent.agent_name].span_id for e in llm)


@pytest.mark.usefixtures("adk_instrumented")
async def test_agent_tool_runs_nest_under_the_calling_tool(fake_provider: FakeProvider,
                                                           memory_monitoring: Any) -> None:
    from google.adk.agents import LlmAgent
    from google.adk.tools.agent_tool import AgentTool

    researcher = LlmAgent(name="Researcher", model=gemini(fake_provider), instruction="research",
                          description="Finds facts.")
    writer = LlmAgent(name="Writer", model=gemini(fake_provider), instruction="write",
                      tools=[AgentTool(agent=researcher)])
    fake_provider.reply(tool_calls=[("Researcher", {"request": "facts about ADK"})], input_tokens=20, output_tokens=5)
    fake_provider.reply(text="ADK is a framework.", input_tokens=15, output_tokens=4)
    fake_provider.reply(text="Article: ADK is a framework.", input_tokens=30, output_tokens=6)
    adk_events, _ = await run(writer, "write about ADK")
    assert final_text(adk_events) == "Article: ADK is a framework."
    events = memory_monitoring.flush()
    (tool,) = _by_type(events, "tool")
    assert tool.operation_name == "execute_tool Researcher" and tool.agent.agent_name == "Writer"
    outer, inner = _by_type(events, "workflow")
    assert inner.parent_span_id == tool.span_id and inner.trace_id == outer.trace_id
    researcher_run = next(e for e in _by_type(events, "agent") if e.agent.agent_name == "Researcher")
    assert researcher_run.parent_span_id == inner.span_id
    llm = _by_type(events, "chat")
    assert [e.agent.agent_name for e in llm] == ["Writer", "Researcher", "Writer"]
    assert len(llm) == len(fake_provider.requests) == 3


@pytest.mark.usefixtures("adk_instrumented")
async def test_consumer_stopping_early_closes_the_run(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    script_transfer(fake_provider)
    runner = InMemoryRunner(agent=shop(fake_provider), app_name="shop")
    session = await runner.session_service.create_session(app_name="shop", user_id="u1")
    stream = runner.run_async(user_id="u1", session_id=session.id,
                              new_message=types.Content(role="user", parts=[types.Part(text="where?")]))
    async for _ in stream:
        break  # the caller stops after the first event
    await stream.aclose()
    assert not is_suppressed()
    events = memory_monitoring.flush()
    (run_event,) = _by_type(events, "workflow")
    assert run_event.error is False
    (llm,) = _by_type(events, "chat")
    assert llm.agent.agent_name == "Coordinator" and llm.usage.input_tokens == 40
    from llamonitor_google_adk import _adapter

    assert _adapter.recorder.runs == {}


def test_version_outside_range_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamonitor_google_adk import GoogleAdkAdapter, UnsupportedVersion

    for version in ("2.11.0", "2.13.0", "2.13.9"):
        adapter = GoogleAdkAdapter()
        monkeypatch.setattr(adapter, "installed_version", lambda v=version: v)
        adapter.check_version()
    for version in ("2.10.1", "2.14.0", "1.39.1", "3.0.0"):
        adapter = GoogleAdkAdapter()
        monkeypatch.setattr(adapter, "installed_version", lambda v=version: v)
        with pytest.raises(UnsupportedVersion, match=rf"google-adk >= 2\.11, < 2\.14; {version} is installed"):
            adapter.instrument()
        assert not adapter.is_instrumented()
    assert issubclass(UnsupportedVersion, RuntimeError)


def test_usage_mapping_follows_llamonitor_conventions() -> None:
    from google.genai import types
    from llamonitor_google_adk import usage_from

    meta = types.GenerateContentResponseUsageMetadata(prompt_token_count=100, cached_content_token_count=60,
                                                      candidates_token_count=20, thoughts_token_count=30,
                                                      tool_use_prompt_token_count=5, total_token_count=155)
    usage = usage_from(meta)
    assert usage is not None
    # input includes cached and tool-use prompt tokens; output includes thinking tokens
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.reasoning_tokens,
            usage.total_tokens) == (105, 60, 50, 30, 155)
    assert usage_from(types.GenerateContentResponseUsageMetadata()) is None
    assert usage_from(None) is None

