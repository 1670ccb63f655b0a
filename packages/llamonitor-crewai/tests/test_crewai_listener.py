"""A real CrewAI crew against the fake provider: identities, nesting, usage, one event per call."""

from __future__ import annotations

import pytest
from llamonitor.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.usefixtures("crewai_instrumented")


def _crew(fake: FakeProvider):  # type: ignore[no-untyped-def]
    from crewai import LLM, Agent, Crew, Process, Task

    llm = LLM(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test", max_retries=0)
    researcher = Agent(role="Researcher", goal="find facts", backstory="careful", llm=llm, allow_delegation=False)
    writer = Agent(role="Writer", goal="write", backstory="clear", llm=llm, allow_delegation=False)
    t1 = Task(name="research", description="research X", expected_output="facts", agent=researcher)
    t2 = Task(name="write", description="write about X", expected_output="article", agent=writer)
    return Crew(agents=[researcher, writer], tasks=[t1, t2], process=Process.sequential), researcher, writer


def test_sequential_crew(fake_provider: FakeProvider, memory_monitoring) -> None:  # type: ignore[no-untyped-def]
    fake_provider.reply(text="Thought: done\nFinal Answer: facts", input_tokens=11, output_tokens=3)
    fake_provider.reply(text="Thought: done\nFinal Answer: article", input_tokens=21, output_tokens=5)
    crew, researcher, writer = _crew(fake_provider)
    assert str(crew.kickoff()) == "article"
    events = memory_monitoring.flush()
    assert len(fake_provider.requests) == 2
    llm = sorted((e for e in events if e.operation_type == "chat"), key=lambda e: e.start_time_ns)
    assert len(llm) == 2
    assert [e.agent.agent_role for e in llm] == ["Researcher", "Writer"]
    assert [e.agent.agent_id for e in llm] == [str(researcher.id), str(writer.id)]
    assert [e.agent.task for e in llm] == ["research", "write"]
    assert [(e.usage.input_tokens, e.usage.output_tokens, e.usage.total_tokens) for e in llm] == [(11, 3, 14),
                                                                                                 (21, 5, 26)]
    assert all(e.agent.framework == "crewai" for e in llm)
    by_span = {e.span_id: e for e in events}
    (crew_ev,) = [e for e in events if e.operation_type == "crew"]
    assert {e.trace_id for e in events} == {crew_ev.trace_id}
    tasks = sorted((e for e in events if e.operation_type == "task"), key=lambda e: e.start_time_ns)
    assert [t.agent.task for t in tasks] == ["research", "write"]
    assert all(t.parent_span_id == crew_ev.span_id for t in tasks)
    agents = sorted((e for e in events if e.operation_type == "agent"), key=lambda e: e.start_time_ns)
    assert [a.agent.agent_role for a in agents] == ["Researcher", "Writer"]
    assert [a.agent.handoff_from for a in agents] == [None, "Researcher"]
    for a, t in zip(agents, tasks, strict=True):
        assert a.parent_span_id == t.span_id
    for e, a in zip(llm, agents, strict=True):
        assert by_span[e.parent_span_id] is a


def test_llm_error_is_recorded(fake_provider: FakeProvider, memory_monitoring) -> None:  # type: ignore[no-untyped-def]
    fake_provider.error(500, "boom")
    crew, _, _ = _crew(fake_provider)
    try:
        crew.kickoff()  # CrewAI retries the agent after a provider error (default replies then succeed)
    except Exception:
        pass
    events = memory_monitoring.flush()
    llm = sorted((e for e in events if e.operation_type == "chat"), key=lambda e: e.start_time_ns)
    assert len(llm) == len(fake_provider.requests) >= 2
    assert llm[0].error and "boom" in (llm[0].error_message or "")
    assert llm[0].usage is None or not llm[0].usage.input_tokens
    assert not llm[1].error
    assert llm[0].agent.agent_role == "Researcher"


def test_delegation_is_a_handoff(fake_provider: FakeProvider, memory_monitoring) -> None:  # type: ignore[no-untyped-def]
    from crewai import LLM, Agent, Crew, Task

    llm = LLM(model="gpt-4o-mini", base_url=fake_provider.openai_base_url, api_key="test", max_retries=0)
    manager = Agent(role="Manager", goal="lead", backstory="b", llm=llm, allow_delegation=True)
    writer = Agent(role="Writer", goal="write", backstory="b", llm=llm, allow_delegation=False)
    task = Task(name="lead", description="write X", expected_output="text", agent=manager)
    fake_provider.reply(tool_calls=[("delegate_work_to_coworker",
                                     {"task": "write X", "context": "ctx", "coworker": "Writer"})],
                        input_tokens=30, output_tokens=9)
    fake_provider.reply(text="Thought: done\nFinal Answer: draft", input_tokens=5, output_tokens=2)
    fake_provider.reply(text="Thought: done\nFinal Answer: final", input_tokens=7, output_tokens=2)
    Crew(agents=[manager, writer], tasks=[task]).kickoff()
    events = memory_monitoring.flush()
    by_span = {e.span_id: e for e in events}
    llm_events = sorted((e for e in events if e.operation_type == "chat"), key=lambda e: e.start_time_ns)
    assert len(llm_events) == len(fake_provider.requests) == 3
    assert [e.agent.agent_role for e in llm_events] == ["Manager", "Writer", "Manager"]
    assert [e.usage.input_tokens for e in llm_events] == [30, 5, 7]
    (tool,) = [e for e in events if e.operation_type == "tool"]
    assert tool.custom_attributes["crewai.delegated_to"] == "Writer"
    assert tool.agent.agent_role == "Manager"
    (delegated,) = [e for e in events if e.operation_type == "agent" and e.agent.agent_role == "Writer"]
    assert delegated.agent.handoff_from == "Manager"
    assert delegated.agent.agent_id == str(writer.id)
    assert delegated.parent_span_id == tool.span_id
    assert by_span[tool.parent_span_id].agent.agent_role == "Manager"
    assert len({e.trace_id for e in events}) == 1


def test_flow_nests_crew_and_tool(fake_provider: FakeProvider, memory_monitoring) -> None:  # type: ignore[no-untyped-def]
    from crewai import LLM, Agent, Crew, Task
    from crewai.flow.flow import Flow, start
    from crewai.tools import tool

    @tool("lookup")
    def lookup(query: str) -> str:
        """Look a fact up."""
        return f"fact about {query}"

    llm = LLM(model="gpt-4o-mini", base_url=fake_provider.openai_base_url, api_key="test", max_retries=0)
    analyst = Agent(role="Analyst", goal="g", backstory="b", llm=llm, tools=[lookup], allow_delegation=False)

    class Pipeline(Flow):  # type: ignore[type-arg]
        @start()
        def analyse(self) -> str:
            task = Task(name="analyse", description="analyse X", expected_output="answer", agent=analyst)
            return str(Crew(agents=[analyst], tasks=[task]).kickoff())

    fake_provider.reply(tool_calls=[("lookup", {"query": "X"})], input_tokens=9, output_tokens=4)
    fake_provider.reply(text="answer", input_tokens=19, output_tokens=2)
    assert Pipeline().kickoff() == "answer"
    events = memory_monitoring.flush()
    by_span = {e.span_id: e for e in events}
    (flow,) = [e for e in events if e.operation_type == "flow"]
    (method,) = [e for e in events if e.operation_type == "flow_method"]
    (crew,) = [e for e in events if e.operation_type == "crew"]
    (tool_ev,) = [e for e in events if e.operation_type == "tool"]
    assert method.parent_span_id == flow.span_id and crew.parent_span_id == method.span_id
    assert tool_ev.custom_attributes["crewai.tool_name"] == "lookup"
    assert tool_ev.agent.agent_role == "Analyst"
    assert by_span[tool_ev.parent_span_id].operation_type == "agent"
    llm_events = [e for e in events if e.operation_type == "chat"]
    assert len(llm_events) == len(fake_provider.requests) == 2
    assert {e.trace_id for e in events} == {flow.trace_id}


async def test_akickoff(fake_provider: FakeProvider, memory_monitoring) -> None:  # type: ignore[no-untyped-def]
    fake_provider.reply(text="Thought: done\nFinal Answer: facts", input_tokens=11, output_tokens=3)
    fake_provider.reply(text="Thought: done\nFinal Answer: article", input_tokens=21, output_tokens=5)
    crew, _, _ = _crew(fake_provider)
    await crew.akickoff()
    events = memory_monitoring.flush()
    llm = sorted((e for e in events if e.operation_type == "chat"), key=lambda e: e.start_time_ns)
    assert len(llm) == len(fake_provider.requests) == 2
    assert [e.agent.agent_role for e in llm] == ["Researcher", "Writer"]
    assert [e.usage.input_tokens for e in llm] == [11, 21]
    assert len({e.trace_id for e in events}) == 1


def test_recording_failure_never_reaches_crewai(fake_provider: FakeProvider, memory_monitoring,  # type: ignore[no-untyped-def]
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import llamonitor_crewai

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("recorder exploded")

    monkeypatch.setattr(llamonitor_crewai, "start_span", broken)
    fake_provider.reply(text="Thought: done\nFinal Answer: facts")
    fake_provider.reply(text="Thought: done\nFinal Answer: article")
    crew, _, _ = _crew(fake_provider)
    assert str(crew.kickoff()) == "article"
    assert memory_monitoring.flush() == []


def test_without_monitoring_initialised(fake_provider: FakeProvider) -> None:
    fake_provider.reply(text="Thought: done\nFinal Answer: facts")
    fake_provider.reply(text="Thought: done\nFinal Answer: article")
    crew, _, _ = _crew(fake_provider)
    assert str(crew.kickoff()) == "article"


def test_hierarchical_manager_delegates(fake_provider: FakeProvider, memory_monitoring) -> None:  # type: ignore[no-untyped-def]
    from crewai import LLM, Agent, Crew, Process, Task

    llm = LLM(model="gpt-4o-mini", base_url=fake_provider.openai_base_url, api_key="test", max_retries=0)
    writer = Agent(role="Writer", goal="write", backstory="b", llm=llm, allow_delegation=False)
    task = Task(name="article", description="write X", expected_output="text")
    fake_provider.reply(tool_calls=[("delegate_work_to_coworker",
                                     {"task": "write X", "context": "ctx", "coworker": "Writer"})])
    fake_provider.reply(text="Thought: done\nFinal Answer: draft")
    fake_provider.reply(text="final")
    Crew(agents=[writer], tasks=[task], process=Process.hierarchical, manager_llm=llm).kickoff()
    events = memory_monitoring.flush()
    llm_events = sorted((e for e in events if e.operation_type == "chat"), key=lambda e: e.start_time_ns)
    assert len(llm_events) == len(fake_provider.requests) == 3
    roles = [e.agent.agent_role for e in llm_events]
    assert roles[1] == "Writer" and roles[0] == roles[2] != "Writer"
    (delegated,) = [e for e in events if e.operation_type == "agent" and e.agent.agent_role == "Writer"]
    assert delegated.agent.handoff_from == roles[0]


@pytest.mark.monitor_config(capture_content=True)
def test_content_follows_the_config(fake_provider: FakeProvider, memory_monitoring) -> None:  # type: ignore[no-untyped-def]
    fake_provider.reply(text="Thought: done\nFinal Answer: facts", input_tokens=11, output_tokens=3)
    fake_provider.reply(text="Thought: done\nFinal Answer: article", input_tokens=21, output_tokens=5)
    crew, _, _ = _crew(fake_provider)
    crew.kickoff()
    llm = sorted((e for e in memory_monitoring.flush() if e.operation_type == "chat"), key=lambda e: e.start_time_ns)
    assert "research X" in (llm[0].input_content or "")
    assert "Final Answer: facts" in (llm[0].output_content or "")
    assert "write about X" in (llm[1].input_content or "")


@pytest.mark.monitor_config(capture_content=True)
def test_content_off_by_option(fake_provider: FakeProvider, memory_monitoring) -> None:  # type: ignore[no-untyped-def]
    from llamonitor_crewai import instrument_crewai

    assert instrument_crewai(capture_content=False) is False  # already on (fixture): only the option changes
    fake_provider.reply(text="Thought: done\nFinal Answer: facts", input_tokens=11, output_tokens=3)
    fake_provider.reply(text="Thought: done\nFinal Answer: article", input_tokens=21, output_tokens=5)
    crew, _, _ = _crew(fake_provider)
    crew.kickoff()
    llm = [e for e in memory_monitoring.flush() if e.operation_type == "chat"]
    assert len(llm) == 2
    assert all(e.input_content is None and e.output_content is None for e in llm)
