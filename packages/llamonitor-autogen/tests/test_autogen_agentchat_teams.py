"""autogen-agentchat teams against the fake provider: agent names, handoffs, one event per request."""

from __future__ import annotations

from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.usefixtures("autogen_instrumented")


def _client(fake: FakeProvider) -> Any:
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    return OpenAIChatCompletionClient(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test",
                                      max_retries=0)


def _by_time(events: list[Any], op: str) -> list[Any]:
    return sorted((e for e in events if e.operation_type == op), key=lambda e: e.start_time_ns)


async def test_round_robin_two_agents_two_rounds(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.teams import RoundRobinGroupChat

    for i, (inp, out) in enumerate([(10, 2), (20, 3), (30, 4), (40, 5)]):
        fake_provider.reply(text=f"turn {i}", input_tokens=inp, output_tokens=out)
    client = _client(fake_provider)
    alice = AssistantAgent("alice", model_client=client)
    bob = AssistantAgent("bob", model_client=client)
    team = RoundRobinGroupChat([alice, bob], termination_condition=MaxMessageTermination(5))
    result = await team.run(task="discuss")
    await client.close()
    assert [m.source for m in result.messages] == ["user", "alice", "bob", "alice", "bob"]
    events = memory_monitoring.flush()
    llm = _by_time(events, "chat")
    assert len(llm) == len(fake_provider.requests) == 4
    assert [e.agent.agent_name for e in llm] == ["alice", "bob", "alice", "bob"]
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in llm] == [(10, 2), (20, 3), (30, 4), (40, 5)]
    turns = _by_time(events, "agent")
    assert [t.agent.agent_name for t in turns] == ["alice", "bob", "alice", "bob"]
    assert [t.agent.handoff_from for t in turns] == [None, "alice", "bob", "alice"]
    for e, t in zip(llm, turns, strict=True):
        assert e.parent_span_id == t.span_id
    (team_ev,) = _by_time(events, "team")
    assert all(t.parent_span_id == team_ev.span_id for t in turns)
    assert {e.trace_id for e in events} == {team_ev.trace_id}


async def test_swarm_handoff(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import TextMentionTermination
    from autogen_agentchat.teams import Swarm

    client = _client(fake_provider)
    triage = AssistantAgent("triage", model_client=client, handoffs=["billing"])
    billing = AssistantAgent("billing", model_client=client)
    fake_provider.reply(tool_calls=[("transfer_to_billing", {})], input_tokens=15, output_tokens=4)
    fake_provider.reply(text="refund issued", input_tokens=25, output_tokens=6)
    team = Swarm([triage, billing], termination_condition=TextMentionTermination("refund issued"))
    result = await team.run(task="refund please")
    await client.close()
    handoffs = [(m.source, m.target) for m in result.messages if type(m).__name__ == "HandoffMessage"]
    assert handoffs == [("triage", "billing")]
    events = memory_monitoring.flush()
    llm = _by_time(events, "chat")
    assert len(llm) == len(fake_provider.requests) == 2
    assert [e.agent.agent_name for e in llm] == ["triage", "billing"]
    assert [e.usage.input_tokens for e in llm] == [15, 25]
    turns = _by_time(events, "agent")
    assert [(t.agent.agent_name, t.agent.handoff_from) for t in turns] == [("triage", None), ("billing", "triage")]


async def test_llm_error_recorded(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from autogen_agentchat.agents import AssistantAgent

    fake_provider.error(429, "slow down", retry_after=0)
    client = _client(fake_provider)
    agent = AssistantAgent("solo", model_client=client)
    with pytest.raises(Exception):  # noqa: B017  (the SDK's RateLimitError)
        await agent.run(task="hi")
    await client.close()
    (ev,) = _by_time(memory_monitoring.flush(), "chat")
    assert ev.error and ev.error_type == "RateLimitError"


async def test_selector_group_chat(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.teams import SelectorGroupChat

    client = _client(fake_provider)
    planner = AssistantAgent("planner", model_client=client, description="plans")
    coder = AssistantAgent("coder", model_client=client, description="codes")
    # the selector asks the model for the first speaker; with two agents and no repeated speaker,
    # the second speaker needs no selection call
    fake_provider.reply(text="planner", input_tokens=3, output_tokens=1)
    fake_provider.reply(text="plan", input_tokens=13, output_tokens=2)
    fake_provider.reply(text="code", input_tokens=14, output_tokens=2)
    team = SelectorGroupChat([planner, coder], model_client=client, termination_condition=MaxMessageTermination(3))
    result = await team.run(task="build")
    await client.close()
    assert [m.source for m in result.messages] == ["user", "planner", "coder"]
    events = memory_monitoring.flush()
    llm = _by_time(events, "chat")
    assert len(llm) == len(fake_provider.requests) == 3
    assert [e.usage.input_tokens for e in llm] == [3, 13, 14]
    assert [e.agent.agent_name for e in llm] == ["SelectorGroupChatManager", "planner", "coder"]
    turns = _by_time(events, "agent")
    assert [(t.agent.agent_name, t.agent.handoff_from) for t in turns] == [("planner", None), ("coder", "planner")]


async def test_other_model_clients_through_the_event_logger(memory_monitoring: Any) -> None:
    """A client other than the OpenAI family is recorded from autogen-core's LLMCallEvent."""
    import logging

    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.teams import RoundRobinGroupChat
    from autogen_core import EVENT_LOGGER_NAME
    from autogen_core.logging import LLMCallEvent
    from autogen_ext.models.replay import ReplayChatCompletionClient

    class LoggingReplay(ReplayChatCompletionClient):
        async def create(self, messages: Any, **kwargs: Any) -> Any:
            result = await super().create(messages, **kwargs)
            logging.getLogger(EVENT_LOGGER_NAME).info(LLMCallEvent(
                messages=[], response={"model": "replay-1"}, prompt_tokens=17, completion_tokens=4))
            return result

    client = LoggingReplay(["first", "second"])
    team = RoundRobinGroupChat([AssistantAgent("ann", model_client=client), AssistantAgent("ben", model_client=client)],
                               termination_condition=MaxMessageTermination(3))
    await team.run(task="go")
    llm = _by_time(memory_monitoring.flush(), "chat")
    assert [(e.agent.agent_name, e.model, e.usage.input_tokens, e.usage.output_tokens) for e in llm] == [
        ("ann", "replay-1", 17, 4), ("ben", "replay-1", 17, 4)]


@pytest.mark.parametrize("captured", [pytest.param(True, marks=pytest.mark.monitor_config(capture_content=True)),
                                      False], ids=["capture_on", "default_off"])
async def test_content_follows_the_config(fake_provider: FakeProvider, memory_monitoring: Any, captured: bool) -> None:
    from autogen_agentchat.agents import AssistantAgent

    fake_provider.reply(text="forty-two", input_tokens=7, output_tokens=2)
    client = _client(fake_provider)
    await AssistantAgent("solo", model_client=client).run(task="the answer?")
    await client.close()
    (llm,) = _by_time(memory_monitoring.flush(), "chat")
    if captured:
        assert "the answer?" in (llm.input_content or "")
        assert llm.output_content == "forty-two"
    else:
        assert llm.input_content is None and llm.output_content is None
