"""Google ADK end to end, against the fake provider on loopback: a coordinator transfers to a
billing specialist that calls a tool.

- With ``instrument_anthropic()`` active beside ``instrument_google_adk()`` (ADK's
  ``AnthropicLlm`` goes through the Anthropic SDK that patch wraps): exactly one event per request
  the server received, each carrying the ADK agent's identity; a plain SDK call afterwards is still
  recorded by the SDK patch.
- The same with Gemini (``google-genai``, no llamonitor patch of its own), generate and SSE.
- True agent names on every event but the run itself; Parquet written by the real writer, then
  ``llamonitor analyze`` (the CLI) reports the transfer as an explicit handoff Coordinator -> Billing.
"""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("GOOGLE_API_KEY", "test")

import pytest

pytest.importorskip("google.adk")
pytest.importorskip("llamonitor_anthropic")

from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    MemoryMonitoring,
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor.tracing import is_suppressed
from testkits.google_adk import MODEL, final_text, lookup_order, run, script_transfer, shop  # the adapter tests' shop

CLAUDE = "claude-haiku-4-5"


@pytest.fixture
def adk_and_sdk_patch() -> Iterator[None]:
    from llamonitor_anthropic import instrument_anthropic, uninstrument_anthropic
    from llamonitor_google_adk import instrument_google_adk, uninstrument_google_adk

    instrument_anthropic()
    instrument_google_adk()
    yield
    uninstrument_google_adk()
    uninstrument_anthropic()


def _claude_shop(fake: FakeProvider) -> Any:
    from anthropic import AsyncAnthropic
    from google.adk.agents import LlmAgent
    from google.adk.models.anthropic_llm import AnthropicLlm

    def model() -> AnthropicLlm:
        return AnthropicLlm(model=CLAUDE, client=AsyncAnthropic(base_url=fake.anthropic_base_url, api_key="test",
                                                                  max_retries=0))

    billing = LlmAgent(name="Billing", model=model(), instruction="Answer billing questions.",
                       description="Billing questions.", tools=[lookup_order])
    return LlmAgent(name="Coordinator", model=model(), instruction="Route the customer.", sub_agents=[billing])


def _check_run(events: list[Any], requests: int, provider: str) -> None:
    """One event per request, all ADK's with the true agent names; the run is the only nameless event."""
    llm = sorted((e for e in events if e.operation_type in ("chat", "llm_call", "messages")),
                 key=lambda e: e.start_time_ns)
    assert len(llm) == requests == 3, [(e.operation_name, e.agent) for e in llm]
    assert [(e.agent.framework, e.agent.agent_name, e.agent.handoff_from) for e in llm] == [
        ("google-adk", "Coordinator", None), ("google-adk", "Billing", "Coordinator"),
        ("google-adk", "Billing", "Coordinator")]
    assert {e.provider for e in llm} == {provider}
    assert [(e.usage.input_tokens, e.usage.output_tokens) for e in llm] == [(40, 6), (50, 8), (60, 9)]
    (workflow,) = [e for e in events if e.operation_type == "workflow"]
    assert workflow.agent is None
    others = [e for e in events if e is not workflow]
    assert {e.agent.agent_name for e in others} == {"Coordinator", "Billing"}
    assert all(e.agent.framework == "google-adk" for e in others)
    assert len({e.trace_id for e in events}) == 1


@pytest.mark.usefixtures("adk_and_sdk_patch")
@pytest.mark.parametrize("stream", [False, True], ids=["messages", "messages_stream"])
async def test_claude_agents_with_the_anthropic_patch_one_event_per_request(
        fake_provider: FakeProvider, memory_monitoring: MemoryMonitoring, stream: bool) -> None:
    from anthropic import AsyncAnthropic

    script_transfer(fake_provider)
    adk_events, _ = await run(_claude_shop(fake_provider), stream=stream)
    assert final_text(adk_events) == "Your order 42 has shipped."
    assert len(fake_provider.requests_to("/v1/messages")) == 3
    events = memory_monitoring.flush()
    assert not is_suppressed()
    _check_run(events, len(fake_provider.requests), "anthropic")
    assert {e.model for e in events if e.operation_type == "chat"} == {CLAUDE}

    # Outside an ADK run the Anthropic patch records as before (the suppression ended with the call).
    memory_monitoring.clear()
    client = AsyncAnthropic(base_url=fake_provider.anthropic_base_url, api_key="test", max_retries=0)
    await client.messages.create(model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "plain"}])
    (plain,) = memory_monitoring.flush()
    assert plain.agent is None and plain.provider == "anthropic"


@pytest.mark.usefixtures("adk_and_sdk_patch")
@pytest.mark.parametrize("stream", [False, True], ids=["generate", "sse_stream"])
async def test_gemini_agents_one_event_per_request(fake_provider: FakeProvider, memory_monitoring: MemoryMonitoring,
                                                   stream: bool) -> None:
    script_transfer(fake_provider)
    adk_events, _ = await run(shop(fake_provider), stream=stream)
    assert final_text(adk_events) == "Your order 42 has shipped."
    assert len(fake_provider.requests_to(":streamGenerateContent" if stream else ":generateContent")) == 3
    events = memory_monitoring.flush()
    _check_run(events, len(fake_provider.requests), "gcp.gemini")
    assert {e.model for e in events if e.operation_type == "chat"} == {MODEL}


def test_llamonitor_analyze_reports_the_transfer_as_a_handoff(fake_provider: FakeProvider, tmp_path: Path) -> None:
    from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, shutdown_monitoring
    from llamonitor_google_adk import instrument_google_adk, uninstrument_google_adk

    data = tmp_path / "data"

    async def record() -> None:
        await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(data)),
                                                  spill_dir=str(tmp_path / "spill")))
        instrument_google_adk()
        try:
            for _ in range(2):  # two conversations, each one transfer
                script_transfer(fake_provider)
                await run(shop(fake_provider))
        finally:
            uninstrument_google_adk()
            await shutdown_monitoring()

    asyncio.run(record())
    assert len(fake_provider.requests) == 6
    out = tmp_path / "analysis"
    proc = subprocess.run([sys.executable, "-m", "llamonitor", "analyze", "--dir", str(data), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "analysis.json").read_text())
    handoffs = report["handoffs"]
    assert [(h["from_agent"], h["to_agent"], h["kind"]) for h in handoffs] == [
        ("Coordinator", "Billing", "explicit")] * 2
    agents = {a["agent_name"]: a for a in report["agents"]}
    assert {"Coordinator", "Billing"} <= set(agents)
    assert {agents[n]["identity_source"] for n in ("Coordinator", "Billing")} == {"recorded"}
    assert "Coordinator" in proc.stdout and "Billing" in proc.stdout
