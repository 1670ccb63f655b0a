"""PydanticAI + instrument_openai(): one event per request, true agent names, handoffs in ``llamonitor analyze``.

Two agents, Triage delegating to Billing from inside a tool, run against the fake provider with
both the PydanticAI adapter and the OpenAI SDK patch active (plain and streamed runs). Events go to
Parquet, and the ``llamonitor analyze`` command reads them back and must find the handoff.
"""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import fake_provider, fake_provider_server  # noqa: F401  (fixtures)

pytest.importorskip("pydantic_ai")
pytest.importorskip("llamonitor_openai")

from testkits.pydantic_ai import script_delegation, two_agents


def _agents(fake: FakeProvider, *, stream: bool) -> Any:
    return two_agents(fake, stream=stream)[0]


def _script(fake: FakeProvider, base: int) -> None:
    script_delegation(fake, input_tokens=range(base, base + 4), output_tokens=(6, 7, 8, 9))


@pytest.mark.timeout(180)
def test_one_event_per_request_true_names_and_handoffs(fake_provider: FakeProvider, tmp_path: Path) -> None:
    import asyncio

    import llamonitor
    import pyarrow.parquet as pq
    from llamonitor import MonitorConfig, StorageConfig
    from llamonitor_openai import instrument_openai, uninstrument_openai
    from llamonitor_pydantic_ai import instrument_pydantic_ai, uninstrument_pydantic_ai

    data = tmp_path / "data"

    async def main() -> list[str]:
        await llamonitor.initialize_monitoring(MonitorConfig(
            storage=StorageConfig(backend="parquet", output_dir=str(data)), spill_dir=str(tmp_path / "spill")))
        instrument_openai()
        instrument_pydantic_ai()
        outputs = []
        try:
            _script(fake_provider, 100)
            outputs.append((await _agents(fake_provider, stream=False).run("where is order 42?")).output)
            _script(fake_provider, 200)
            async with _agents(fake_provider, stream=True).run_stream("where is order 42?") as run:
                outputs.append(await run.get_output())
        finally:
            uninstrument_pydantic_ai()
            uninstrument_openai()
            await llamonitor.shutdown_monitoring()
        return outputs

    assert asyncio.run(main()) == ["Your order 42 has shipped."] * 2
    assert len(fake_provider.requests) == 8
    rows = sorted(pq.ParquetDataset(str(data)).read().to_pylist(), key=lambda r: r["start_time"])
    llm = [r for r in rows if r["operation_type"] in ("chat", "llm_call", "responses")]
    # One event per provider request, recorded by the adapter (the SDK patch stayed quiet), in request order.
    assert [r["usage"]["input_tokens"] for r in llm] == [100, 101, 102, 103, 200, 201, 202, 203]
    assert all(r["usage"]["output_tokens"] and r["agent"]["framework"] == "pydantic-ai" for r in llm)
    # Every event carries the true agent name, and the delegate's its handoff source.
    assert all(r["agent"] and r["agent"]["agent_name"] in ("Triage", "Billing") for r in rows)
    assert [r["agent"]["agent_name"] for r in llm] == ["Triage", "Billing", "Billing", "Triage"] * 2
    runs = [(r["agent"]["agent_name"], r["agent"]["handoff_from"]) for r in rows if r["operation_type"] == "agent"]
    assert runs == [("Triage", None), ("Billing", "Triage")] * 2
    assert len({r["trace_id"] for r in rows}) == 2

    out = tmp_path / "analysis"
    proc = subprocess.run([sys.executable, "-m", "llamonitor", "analyze", "--dir", str(data), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    pairs = [(h["from_agent"], h["to_agent"], h["kind"]) for h in report["handoffs"]]
    assert pairs.count(("Triage", "Billing", "explicit")) == 2, pairs
    agents = {a["agent_name"]: a for a in report["agents"]}
    assert set(agents) == {"Triage", "Billing"}
    assert {a["identity_source"] for a in agents.values()} == {"recorded"}
