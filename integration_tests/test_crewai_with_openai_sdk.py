"""CrewAI + instrument_openai(): one LLM event per request, carrying the CrewAI agent identity."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("OPENAI_API_KEY", "test")
os.environ["HOME"] = tempfile.mkdtemp(prefix="llamonitor-crewai-it-home-")

import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    MemoryMonitoring,
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)

pytest.importorskip("crewai")
pytest.importorskip("llamonitor_openai")


@pytest.fixture
def both_instrumented() -> Iterator[None]:
    from llamonitor_crewai import instrument_crewai, uninstrument_crewai
    from llamonitor_openai import instrument_openai, uninstrument_openai

    instrument_openai()
    instrument_crewai()
    yield
    uninstrument_crewai()
    uninstrument_openai()


@pytest.mark.usefixtures("both_instrumented")
def test_crew_llm_calls_recorded_once(fake_provider: FakeProvider, memory_monitoring: MemoryMonitoring) -> None:
    from crewai import LLM, Agent, Crew, Process, Task

    llm = LLM(model="gpt-4o-mini", base_url=fake_provider.openai_base_url, api_key="test", max_retries=0)
    researcher = Agent(role="Researcher", goal="facts", backstory="b", llm=llm, allow_delegation=False)
    writer = Agent(role="Writer", goal="write", backstory="b", llm=llm, allow_delegation=False)
    fake_provider.reply(text="Thought: done\nFinal Answer: facts", input_tokens=11, output_tokens=3)
    fake_provider.reply(text="Thought: done\nFinal Answer: article", input_tokens=21, output_tokens=5)
    crew = Crew(agents=[researcher, writer], process=Process.sequential,
                tasks=[Task(name="research", description="r", expected_output="facts", agent=researcher),
                       Task(name="write", description="w", expected_output="article", agent=writer)])
    crew.kickoff()
    events = memory_monitoring.flush()
    llm_events = sorted((e for e in events if e.operation_type in ("chat", "llm_call")), key=lambda e: e.start_time_ns)
    assert len(fake_provider.requests) == 2
    assert len(llm_events) == 2, [(e.operation_name, e.provider) for e in llm_events]
    assert [e.agent.agent_role for e in llm_events] == ["Researcher", "Writer"]
    assert [e.usage.input_tokens for e in llm_events] == [11, 21]


@pytest.mark.usefixtures("both_instrumented")
def test_sdk_outside_crew_still_recorded(fake_provider: FakeProvider, memory_monitoring: MemoryMonitoring) -> None:
    """The suppression is scoped to CrewAI's LLM calls: a plain SDK call afterwards is recorded."""
    import openai

    test_crew_llm_calls_recorded_once(fake_provider, memory_monitoring)
    memory_monitoring.clear()
    with openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="test", max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    events = memory_monitoring.flush()
    assert [e.operation_type for e in events] == ["chat"]
    assert events[0].agent is None
