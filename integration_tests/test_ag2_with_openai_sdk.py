"""AG2 0.x + instrument_openai(): one LLM event per request, carrying the AG2 source agent."""

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

pytest.importorskip("autogen")
pytest.importorskip("llamonitor_openai")


@pytest.fixture
def ag2_and_openai() -> Iterator[None]:
    from llamonitor_autogen import instrument_autogen, uninstrument_autogen
    from llamonitor_openai import instrument_openai, uninstrument_openai

    instrument_openai()
    instrument_autogen(agentchat=False, ag2=True)
    yield
    uninstrument_autogen()
    uninstrument_openai()


@pytest.mark.usefixtures("ag2_and_openai")
def test_two_agent_chat_recorded_once(fake_provider: FakeProvider, memory_monitoring: MemoryMonitoring) -> None:
    from autogen import ConversableAgent

    cfg = {"config_list": [{"model": "gpt-4o-mini", "base_url": fake_provider.openai_base_url, "api_key": "test",
                            "max_retries": 0}], "cache_seed": None}
    alice = ConversableAgent("alice", llm_config=cfg, human_input_mode="NEVER")
    bob = ConversableAgent("bob", llm_config=cfg, human_input_mode="NEVER")
    fake_provider.reply(text="one", input_tokens=10, output_tokens=2)
    fake_provider.reply(text="two", input_tokens=20, output_tokens=3)
    alice.initiate_chat(bob, message="hello", max_turns=1)
    alice.initiate_chat(bob, message="again", max_turns=1)
    events = memory_monitoring.flush()
    llm = sorted((e for e in events if e.operation_type in ("chat", "llm_call")), key=lambda e: e.start_time_ns)
    assert len(fake_provider.requests) == 2
    assert len(llm) == 2, [(e.operation_name, e.custom_attributes) for e in llm]
    assert [e.agent.agent_name for e in llm] == ["bob", "bob"]
    assert [e.usage.input_tokens for e in llm] == [10, 20]
