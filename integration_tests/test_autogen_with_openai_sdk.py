"""autogen-agentchat + instrument_openai(): one LLM event per request, with the AutoGen agent name."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

from collections.abc import Iterator

import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    MemoryMonitoring,
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)

pytest.importorskip("autogen_agentchat")
pytest.importorskip("llamonitor_openai")


@pytest.fixture
def agentchat_and_openai() -> Iterator[None]:
    from llamonitor_autogen import instrument_autogen, uninstrument_autogen
    from llamonitor_openai import instrument_openai, uninstrument_openai

    instrument_openai()
    instrument_autogen(agentchat=True, ag2=False)
    yield
    uninstrument_autogen()
    uninstrument_openai()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.usefixtures("agentchat_and_openai")
async def test_round_robin_recorded_once(fake_provider: FakeProvider, memory_monitoring: MemoryMonitoring,
                                         stream: bool) -> None:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.teams import RoundRobinGroupChat
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    for inp in (10, 20, 30, 40):
        fake_provider.reply(text=f"t{inp}", input_tokens=inp, output_tokens=3)
    client = OpenAIChatCompletionClient(model="gpt-4o-mini", base_url=fake_provider.openai_base_url,
                                        api_key="test", max_retries=0, model_capabilities=None)
    alice = AssistantAgent("alice", model_client=client, model_client_stream=stream)
    bob = AssistantAgent("bob", model_client=client, model_client_stream=stream)
    await RoundRobinGroupChat([alice, bob], termination_condition=MaxMessageTermination(5)).run(task="go")
    await client.close()
    events = memory_monitoring.flush()
    llm = sorted((e for e in events if e.operation_type == "chat"), key=lambda e: e.start_time_ns)
    assert len(fake_provider.requests) == 4
    assert len(llm) == 4, [(e.operation_name, e.custom_attributes) for e in llm]
    assert [e.agent.agent_name for e in llm] == ["alice", "bob", "alice", "bob"]
    if not stream:  # streamed requests report usage only when the client asks for it
        assert [e.usage.input_tokens for e in llm] == [10, 20, 30, 40]


@pytest.mark.usefixtures("agentchat_and_openai")
async def test_plain_sdk_call_after_team_is_recorded(fake_provider: FakeProvider,
                                                     memory_monitoring: MemoryMonitoring) -> None:
    import openai

    async with openai.AsyncOpenAI(base_url=fake_provider.openai_base_url, api_key="test", max_retries=0) as c:
        await c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    events = memory_monitoring.flush()
    assert [(e.operation_type, e.provider) for e in events] == [("chat", "openai")]
