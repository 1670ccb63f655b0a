"""smolagents + instrument_openai(): one LLM event per provider request, the true agent name on every event,
and the manager -> managed-agent handoffs found by ``llamonitor analyze`` (real smolagents, fake provider,
Parquet on disk)."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import fake_provider, fake_provider_server  # noqa: F401  (fixtures)

pytest.importorskip("smolagents")
pytest.importorskip("llamonitor_openai")

QUIET = -1  # smolagents' LogLevel.OFF


@pytest.fixture
def parquet_monitoring(tmp_path: Path) -> Iterator[Path]:
    import llamonitor
    from llamonitor.schema.config import MonitorConfig, StorageConfig

    data = tmp_path / "data"
    llamonitor.initialize_monitoring_sync(MonitorConfig(
        storage=StorageConfig(backend="parquet", output_dir=str(data), flush_interval_seconds=0.05),
        spill_dir=str(tmp_path / "spill")))
    try:
        yield data
    finally:
        llamonitor.shutdown_sync(timeout=30)


@pytest.fixture
def smolagents_and_openai() -> Iterator[None]:
    from llamonitor_openai import instrument_openai, uninstrument_openai
    from llamonitor_smolagents import instrument_smolagents, uninstrument_smolagents

    instrument_openai()
    instrument_smolagents()
    yield
    uninstrument_smolagents()
    uninstrument_openai()


def _code(text: str) -> str:
    return f"Thought: on it\n```py\n{text}\n```"


@pytest.mark.usefixtures("smolagents_and_openai")
def test_two_agents_one_event_per_request_and_handoffs_analysed(fake_provider: FakeProvider, parquet_monitoring: Path,
                                                                tmp_path: Path) -> None:
    import llamonitor
    from llamonitor.cli.analyze import load_events
    from llamonitor.cli.main import main
    from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent, tool

    @tool
    def lookup_order(order_id: str) -> str:
        """Look an order up.

        Args:
            order_id: the order's id
        """
        return f"order {order_id}: shipped"

    model = OpenAIServerModel(model_id="gpt-4o-mini", api_base=fake_provider.openai_base_url, api_key="test",
                              client_kwargs={"max_retries": 0})
    researcher = CodeAgent(tools=[lookup_order], model=model, name="researcher", description="Looks orders up.",
                           verbosity_level=QUIET)
    manager = ToolCallingAgent(tools=[], model=model, managed_agents=[researcher], name="manager",
                               verbosity_level=QUIET)
    for n in (1, 2):  # two runs, two traces
        # additional_args: smolagents < 1.22 requires it on a managed agent's call
        fake_provider.reply(tool_calls=[("researcher", {"task": f"find order {n}", "additional_args": {}})],
                            input_tokens=40, output_tokens=6)
        fake_provider.reply(text=_code(f"final_answer(lookup_order(order_id='{n}'))"), input_tokens=50,
                            output_tokens=8)
        fake_provider.reply(tool_calls=[("final_answer", {"answer": f"order {n} shipped"})], input_tokens=60,
                            output_tokens=5)
        assert manager.run(f"where is order {n}?") == f"order {n} shipped"
    assert llamonitor.flush_sync(10)
    requests = len(fake_provider.requests)
    assert requests == 6

    events = load_events(parquet_monitoring)
    model_calls = [e for e in events if e.operation_type in ("chat", "llm_call", "responses", "text_completion")]
    assert len(model_calls) == requests  # the OpenAI patch stayed quiet inside the agents' calls
    assert sum(e.usage.input_tokens for e in model_calls) == 2 * (40 + 50 + 60)
    assert [e.agent.agent_name for e in sorted(model_calls, key=lambda e: e.start_time_ns)] == [
        "manager", "researcher", "manager"] * 2
    assert all(e.agent is not None and e.agent.framework == "smolagents" and e.agent.agent_name in
               ("manager", "researcher") for e in events)
    assert all(e.agent.handoff_from == "manager" for e in events if e.agent.agent_name == "researcher")
    assert len({e.trace_id for e in events}) == 2

    out = tmp_path / "analysis"
    assert main(["analyze", "--dir", str(parquet_monitoring), "--out", str(out)]) == 0
    report: dict[str, Any] = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert {a["agent_name"] for a in report["agents"]} == {"manager", "researcher"}
    assert all(a["identity_source"] == "recorded" for a in report["agents"])
    pairs = [(h["from_agent"], h["to_agent"], h["kind"]) for h in report["handoffs"]]
    assert pairs.count(("manager", "researcher", "explicit")) == 2, pairs
