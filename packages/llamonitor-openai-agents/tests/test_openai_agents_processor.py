"""Real OpenAI Agents SDK runs against the fake provider: agents, handoffs, tools, guardrails, usage."""

from __future__ import annotations

from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.usefixtures("agents_instrumented")


def _model(fake: FakeProvider, *, chat: bool = False) -> Any:
    from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=fake.openai_base_url, api_key="test", max_retries=0)
    cls = OpenAIChatCompletionsModel if chat else OpenAIResponsesModel
    return cls(model="gpt-4o-mini", openai_client=client)


def _two_agents(fake: FakeProvider, *, chat: bool = False) -> Any:
    from agents import Agent, function_tool

    @function_tool
    def lookup_order(order_id: str) -> str:
        """Look an order up."""
        return f"order {order_id}: shipped"

    billing = Agent(name="Billing", instructions="answer billing", model=_model(fake, chat=chat),
                    tools=[lookup_order])
    return Agent(name="Triage", instructions="route", model=_model(fake, chat=chat), handoffs=[billing])


@pytest.mark.parametrize("chat", [False, True], ids=["responses", "chat_completions"])
async def test_handoff_tool_and_usage(fake_provider: FakeProvider, memory_monitoring: Any, chat: bool) -> None:
    from agents import Runner

    fake_provider.reply(tool_calls=[("transfer_to_billing", {})], input_tokens=40, output_tokens=6)
    fake_provider.reply(tool_calls=[("lookup_order", {"order_id": "42"})], input_tokens=50, output_tokens=8)
    fake_provider.reply(text="Your order 42 has shipped.", input_tokens=60, output_tokens=9)
    result = await Runner.run(_two_agents(fake_provider, chat=chat), "where is order 42?")
    assert result.final_output == "Your order 42 has shipped."
    events = memory_monitoring.flush()
    assert len(fake_provider.requests) == 3
    by_span = {e.span_id: e for e in events}
    (run,) = [e for e in events if e.operation_type == "workflow"]
    assert {e.trace_id for e in events} == {run.trace_id}
    agents = sorted((e for e in events if e.operation_type == "agent"), key=lambda e: e.start_time_ns)
    assert [a.agent.agent_name for a in agents] == ["Triage", "Billing"]
    assert [a.agent.handoff_from for a in agents] == [None, "Triage"]
    (task,) = [e for e in events if e.operation_type == "agent_task"]  # SDK >= 0.20: run -> task -> agent -> turn
    assert task.parent_span_id == run.span_id
    assert all(a.parent_span_id == task.span_id and a.agent.framework == "openai-agents" for a in agents)
    llm = sorted((e for e in events if e.operation_type == "chat"), key=lambda e: e.start_time_ns)
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in llm] == [(40, 6), (50, 8), (60, 9)]
    assert [e.agent.agent_name for e in llm] == ["Triage", "Billing", "Billing"]
    assert all(e.model and e.model.startswith("gpt-4o-mini") for e in llm)
    assert all(e.operation_name == f"chat {e.model}" for e in llm)
    # Tokens are stored once, on the model calls (turn and task usage would double the totals).
    assert sum(e.usage.input_tokens for e in events if e.usage and e.usage.input_tokens) == 150
    assert [by_span[e.parent_span_id].agent.agent_name for e in llm] == ["Triage", "Billing", "Billing"]
    (handoff,) = [e for e in events if e.operation_type == "handoff"]
    assert handoff.custom_attributes["openai_agents.from_agent"] == "Triage"
    assert handoff.custom_attributes["openai_agents.to_agent"] == "Billing"
    (tool,) = [e for e in events if e.operation_type == "tool"]
    assert tool.custom_attributes["gen_ai.tool.name"] == "lookup_order"
    assert tool.agent.agent_name == "Billing"
    turn = by_span[tool.parent_span_id]
    assert turn.operation_type == "agent_turn" and by_span[turn.parent_span_id] is agents[1]
    turns = [e for e in events if e.operation_type == "agent_turn"]
    assert sorted(t.agent.agent_name for t in turns) == ["Billing", "Billing", "Triage"]


async def test_openai_sdk_patch_does_not_record_twice(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from agents import Agent, Runner
    from llamonitor_openai import instrument_openai, uninstrument_openai

    instrument_openai()
    try:
        agent = Agent(name="Solo", instructions="answer", model=_model(fake_provider))
        fake_provider.reply(text="hi", input_tokens=5, output_tokens=2)
        await Runner.run(agent, "hello")
        # Outside an agent run the OpenAI patch still records (the suppression ended with the span).
        from openai import AsyncOpenAI

        client = AsyncOpenAI(base_url=fake_provider.openai_base_url, api_key="test", max_retries=0)
        await client.responses.create(model="gpt-4o-mini", input="plain")
    finally:
        uninstrument_openai()
    events = memory_monitoring.flush()
    assert len(fake_provider.requests) == 2
    model_calls = [e for e in events if e.operation_type in ("chat", "responses")]
    assert [(e.operation_type, e.agent.framework if e.agent else None) for e in model_calls] == [
        ("chat", "openai-agents"), ("responses", None)]


async def test_guardrail_and_error(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from agents import Agent, GuardrailFunctionOutput, InputGuardrailTripwireTriggered, Runner, input_guardrail

    @input_guardrail
    def no_secrets(ctx: Any, agent: Any, text: Any) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered="password" in str(text))

    agent = Agent(name="Guarded", instructions="answer", model=_model(fake_provider), input_guardrails=[no_secrets])
    with pytest.raises(InputGuardrailTripwireTriggered):
        await Runner.run(agent, "my password is hunter2")
    fake_provider.error(500, "boom")
    with pytest.raises(Exception, match="boom"):
        await Runner.run(agent, "fine question")
    events = memory_monitoring.flush()
    guards = sorted((e for e in events if e.operation_type == "guardrail"), key=lambda e: e.start_time_ns)
    assert [g.custom_attributes["openai_agents.triggered"] for g in guards][:1] == [True]
    assert guards[0].agent.agent_name == "Guarded"
    failed = [e for e in events if e.operation_type == "chat" and e.error]
    assert len(failed) == 1 and failed[0].agent.agent_name == "Guarded"


def test_version_outside_range_fails_clearly() -> None:
    from llamonitor_openai_agents import _version_ok

    assert _version_ok("0.20.0") and _version_ok("0.24.3")
    assert not _version_ok("0.19.9") and not _version_ok("0.25.0") and not _version_ok("1.0.0")


async def test_streamed_run_records_each_model_call_once(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from agents import Runner
    from llamonitor_openai import instrument_openai, uninstrument_openai

    instrument_openai()
    try:
        fake_provider.reply(tool_calls=[("transfer_to_billing", {})], input_tokens=40, output_tokens=6)
        fake_provider.reply(text="Shipped.", input_tokens=60, output_tokens=9)
        run = Runner.run_streamed(_two_agents(fake_provider), "where is order 42?")
        async for _ in run.stream_events():
            pass
        assert run.final_output == "Shipped."
    finally:
        uninstrument_openai()
    events = memory_monitoring.flush()
    assert len(fake_provider.requests) == 2
    model_calls = [e for e in events if e.operation_type in ("chat", "responses")]
    assert [(e.operation_type, e.agent.agent_name) for e in model_calls] == [("chat", "Triage"), ("chat", "Billing")]
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in model_calls] == [(40, 6), (60, 9)]


@pytest.mark.monitor_config(capture_content=True)
@pytest.mark.parametrize("chat", [False, True], ids=["responses", "chat_completions"])
async def test_content_follows_the_config(fake_provider: FakeProvider, memory_monitoring: Any, chat: bool) -> None:
    from agents import Agent, Runner

    fake_provider.reply(text="It has shipped.", input_tokens=5, output_tokens=3)
    agent = Agent(name="Solo", instructions="be brief", model=_model(fake_provider, chat=chat))
    await Runner.run(agent, "where is order 42?")
    (llm,) = [e for e in memory_monitoring.flush() if e.operation_type == "chat"]
    assert "where is order 42?" in (llm.input_content or "")
    assert "It has shipped." in (llm.output_content or "")


@pytest.mark.monitor_config(capture_content=True)
async def test_content_off_by_option(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from agents import Agent, Runner
    from llamonitor_openai_agents import instrument_openai_agents

    assert instrument_openai_agents(capture_content=False) is False  # only the option changes
    fake_provider.reply(text="It has shipped.", input_tokens=5, output_tokens=3)
    await Runner.run(Agent(name="Solo", instructions="be brief", model=_model(fake_provider)), "where?")
    (llm,) = [e for e in memory_monitoring.flush() if e.operation_type == "chat"]
    assert llm.input_content is None and llm.output_content is None
