"""Real instrumentations exporting through the real OTel SDK ``OTLPSpanExporter`` into a real
``llamonitor serve``; the OpenAI SDK talks to llamonitor's fake provider.

OpenLLMetry and OpenInference OpenAI instrumentors, and PydanticAI's built-in instrumentation
with two agents (one delegating to the other from a tool): the stored events carry the model,
the tokens and the agents' names, and ``llamonitor analyze`` finds the handoff.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider
from testkits.serve import serve, wait_events

pytestmark = pytest.mark.timeout(180)

try:  # module level: the tool's annotations are resolved from the module's globals
    from pydantic_ai import RunContext
except ImportError:  # pragma: no cover - dev group installs it
    RunContext = None  # type: ignore[assignment,misc]

openai = pytest.importorskip("openai")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")


@pytest.fixture(autouse=True)
def _otel_sdk_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another package's test suite (llamonitor-autogen's conftest) turns the OTel SDK off for the
    # whole process; these tests need a real TracerProvider.
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with serve(tmp_path) as base:
        yield base, tmp_path / "data"


def _provider(base: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "ingest-test"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=base + "v1/traces")))
    return provider


def _chat_twice(fake: FakeProvider) -> None:
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="test")
    for tokens in ((30, 5), (40, 6)):
        fake.reply(text="ok", model="gpt-4o-mini-2024-07-18", input_tokens=tokens[0], output_tokens=tokens[1])
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("family", ["openllmetry", "openinference"])
def test_openai_instrumentors_feed_serve(served: tuple[str, Path], family: str) -> None:
    base, data = served
    if family == "openllmetry":
        instrumentor_mod = pytest.importorskip("opentelemetry.instrumentation.openai")
    else:
        instrumentor_mod = pytest.importorskip("openinference.instrumentation.openai")
    provider = _provider(base)
    instrumentor = instrumentor_mod.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeProvider() as fake:
            _chat_twice(fake)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()  # flushes the exporter
    events = sorted(wait_events(data, 2), key=lambda e: e.start_time_ns)
    assert len(events) == 2
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in events if e.usage] == [(30, 5), (40, 6)]
    for event in events:
        # OpenLLMetry: gen_ai.request / response.model; OpenInference: llm.invocation_parameters / llm.model_name
        assert event.model == "gpt-4o-mini" and event.response_model == "gpt-4o-mini-2024-07-18"
        assert event.operation_type in ("chat", "llm_call")
        assert event.cost is not None and (event.cost.total_cost_usd or 0) > 0
        assert len(event.trace_id) == 32 and len(event.span_id) == 16
        assert event.custom_attributes["service.name"] == "ingest-test"


def test_pydantic_ai_two_agents_handoff(served: tuple[str, Path], tmp_path: Path) -> None:
    if RunContext is None:
        pytest.skip("pydantic-ai is not installed")
    from pydantic_ai import Agent, InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    base, data = served
    tracer_provider = _provider(base)
    settings = InstrumentationSettings(tracer_provider=tracer_provider)
    with FakeProvider() as fake:
        model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=fake.openai_base_url, api_key="t"))
        researcher = Agent(model, name="researcher")
        planner = Agent(model, name="planner")
        for agent in (researcher, planner):  # pydantic-ai 2.x: the per-agent `instrument` switch
            agent.instrument = settings

        @planner.tool
        async def ask_researcher(ctx: RunContext[None], question: str) -> str:
            """Delegate a question to the researcher agent (same event loop: one HTTP client)."""
            return (await researcher.run(question, usage=ctx.usage)).output

        answered = "gpt-4o-mini-2024-07-18"  # a dated snapshot answers the alias asked for
        fake.reply(tool_calls=[("ask_researcher", {"question": "what is 2+2?"})], model=answered,
                   input_tokens=50, output_tokens=10)
        fake.reply(text="4", model=answered, input_tokens=20, output_tokens=2)
        fake.reply(text="The answer is 4.", model=answered, input_tokens=70, output_tokens=8)
        result = planner.run_sync("Plan: find 2+2")
        assert result.output == "The answer is 4."
    tracer_provider.shutdown()
    events = wait_events(data, 6)
    by_agent: dict[str, list[Any]] = {}
    for e in events:
        if e.agent is not None and e.agent.agent_name:
            by_agent.setdefault(e.agent.agent_name, []).append(e)
    assert set(by_agent) == {"planner", "researcher"}, [(e.operation_name, e.agent) for e in events]
    chats = [e for e in events if e.operation_type == "chat"]
    assert sorted((e.usage.input_tokens, e.usage.output_tokens) for e in chats if e.usage) == [
        (20, 2), (50, 10), (70, 8)]
    assert all(e.model == "gpt-4o-mini" and e.response_model == answered for e in chats)
    assert all(e.cost is not None and (e.cost.total_cost_usd or 0) > 0 for e in chats)
    assert {e.agent.agent_name for e in chats if e.agent} == {"planner", "researcher"}
    assert len({e.trace_id for e in events}) == 1
    # the researcher's run has its own gen_ai.conversation.id but belongs to the planner's session
    assert len({e.session_id for e in events}) == 1
    out = tmp_path / "analysis"
    run = subprocess.run([sys.executable, "-m", "llamonitor", "analyze", "--dir", str(data), "--out", str(out)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "analysis.json").read_text())
    pairs = {(h["from_agent"], h["to_agent"]) for h in report["handoffs"]}
    assert ("planner", "researcher") in pairs, report["handoffs"]
