"""AG2 0.x (classic ``autogen``) against the fake provider: source agents, handoffs, tokens, cost."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.usefixtures("ag2_instrumented")


def _cfg(fake: FakeProvider) -> dict[str, Any]:
    return {"config_list": [{"model": "gpt-4o-mini", "base_url": fake.openai_base_url, "api_key": "test",
                             "max_retries": 0}], "cache_seed": None}


def _by_time(events: list[Any], op: str) -> list[Any]:
    return sorted((e for e in events if e.operation_type == op), key=lambda e: e.start_time_ns)


def test_two_agent_chat(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from autogen import ConversableAgent

    alice = ConversableAgent("alice", llm_config=_cfg(fake_provider), human_input_mode="NEVER")
    bob = ConversableAgent("bob", llm_config=_cfg(fake_provider), human_input_mode="NEVER")
    for inp, out in ((10, 2), (20, 3), (30, 4)):
        fake_provider.reply(text=f"reply {inp}", input_tokens=inp, output_tokens=out)
    result = alice.initiate_chat(bob, message="hello", max_turns=2)
    senders = [m["name"] for m in result.chat_history]
    assert senders == ["alice", "bob", "alice", "bob"]
    events = memory_monitoring.flush()
    llm = _by_time(events, "chat")
    assert len(llm) == len(fake_provider.requests) == 3
    assert [e.agent.agent_name for e in llm] == ["bob", "alice", "bob"]
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in llm] == [(10, 2), (20, 3), (30, 4)]
    assert all(e.custom_attributes.get("ag2.cost_usd", 0) > 0 for e in llm)
    handoffs = _by_time(events, "handoff")
    assert [(h.agent.handoff_from, h.agent.agent_name) for h in handoffs] == [
        (a, b) for a, b in zip(senders, [*senders[1:], "alice"], strict=True)]
    (chat,) = _by_time(events, "agent_chat")
    assert {e.trace_id for e in events} == {chat.trace_id}
    assert all(e.parent_span_id == chat.span_id for e in llm + handoffs)


def test_group_chat_three_agents(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from autogen import ConversableAgent, GroupChat, GroupChatManager

    cfg = _cfg(fake_provider)
    user = ConversableAgent("user", llm_config=False, human_input_mode="NEVER")
    planner = ConversableAgent("planner", llm_config=cfg, human_input_mode="NEVER")
    coder = ConversableAgent("coder", llm_config=cfg, human_input_mode="NEVER")
    critic = ConversableAgent("critic", llm_config=cfg, human_input_mode="NEVER")
    chat = GroupChat([user, planner, coder, critic], messages=[], max_round=4,
                     speaker_selection_method="round_robin")
    manager = GroupChatManager(chat, llm_config=cfg)
    for inp in (11, 22, 33):
        fake_provider.reply(text=f"turn {inp}", input_tokens=inp, output_tokens=1)
    user.initiate_chat(manager, message="build it")
    turns = [m["name"] for m in chat.messages]
    assert turns == ["user", "planner", "coder", "critic"]
    events = memory_monitoring.flush()
    llm = _by_time(events, "chat")
    assert len(llm) == len(fake_provider.requests) == 3
    assert [e.agent.agent_name for e in llm] == ["planner", "coder", "critic"]
    assert [e.usage.input_tokens for e in llm] == [11, 22, 33]
    handoffs = _by_time(events, "handoff")
    assert [(h.agent.handoff_from, h.agent.agent_name) for h in handoffs] == list(itertools.pairwise(turns))


def test_api_error_recorded(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from autogen import ConversableAgent

    alice = ConversableAgent("alice", llm_config=False, human_input_mode="NEVER")
    bob = ConversableAgent("bob", llm_config=_cfg(fake_provider), human_input_mode="NEVER")
    fake_provider.error(500, "boom")
    with pytest.raises(Exception):  # noqa: B017  (openai.InternalServerError)
        alice.initiate_chat(bob, message="hello", max_turns=1)
    events = memory_monitoring.flush()
    (llm,) = _by_time(events, "chat")
    assert llm.error and llm.agent.agent_name == "bob"
    (chat,) = _by_time(events, "agent_chat")
    assert chat.error


async def test_async_chat(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from autogen import ConversableAgent

    alice = ConversableAgent("alice", llm_config=_cfg(fake_provider), human_input_mode="NEVER")
    bob = ConversableAgent("bob", llm_config=_cfg(fake_provider), human_input_mode="NEVER")
    fake_provider.reply(text="hi", input_tokens=8, output_tokens=1)
    await alice.a_initiate_chat(bob, message="hello", max_turns=1)
    events = memory_monitoring.flush()
    (llm,) = _by_time(events, "chat")
    assert llm.agent.agent_name == "bob" and llm.usage.input_tokens == 8
    assert [(h.agent.handoff_from, h.agent.agent_name) for h in _by_time(events, "handoff")] == [
        ("alice", "bob"), ("bob", "alice")]
    (chat,) = _by_time(events, "agent_chat")
    assert llm.parent_span_id == chat.span_id


def test_previous_runtime_logger_kept(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    import autogen.runtime_logging as runtime_logging
    from autogen import ConversableAgent
    from llamonitor_autogen import instrument_autogen, uninstrument_autogen

    uninstrument_autogen()
    calls: list[str] = []

    class Recorder:
        def start(self) -> str:
            return "user-session"

        def log_chat_completion(self, *args: Any, **kwargs: Any) -> None:
            calls.append("completion")

        def __getattr__(self, name: str) -> Any:
            return lambda *a, **k: None

    mine = Recorder()
    runtime_logging.start(logger=mine)  # type: ignore[arg-type]
    try:
        instrument_autogen(agentchat=False, ag2=True)
        alice = ConversableAgent("alice", llm_config=False, human_input_mode="NEVER")
        bob = ConversableAgent("bob", llm_config=_cfg(fake_provider), human_input_mode="NEVER")
        alice.initiate_chat(bob, message="hello", max_turns=1)
        assert calls == ["completion"]
        assert len(_by_time(memory_monitoring.flush(), "chat")) == 1
        uninstrument_autogen()
        assert runtime_logging.autogen_logger is mine
    finally:
        runtime_logging.stop()
        runtime_logging.autogen_logger = None
        runtime_logging.is_logging = False


@pytest.mark.monitor_config(capture_content=True)
def test_content_follows_the_config(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from autogen import ConversableAgent

    alice = ConversableAgent("alice", llm_config=_cfg(fake_provider), human_input_mode="NEVER")
    bob = ConversableAgent("bob", llm_config=_cfg(fake_provider), human_input_mode="NEVER")
    fake_provider.reply(text="hi alice", input_tokens=3, output_tokens=2)
    alice.initiate_chat(bob, message="hello bob", max_turns=1)
    (llm,) = _by_time(memory_monitoring.flush(), "chat")
    assert "hello bob" in (llm.input_content or "")
    assert llm.output_content == "hi alice"
