"""AutoGen (autogen-agentchat): team runs, each agent's turn and each model request, ``instrument_autogen()``.

Shows: a ``RoundRobinGroupChat`` of two assistant agents recorded as the team run, every
participant's turn (agent name, who handed over) and every model request with its usage. It
runs offline: the model client points at ``llamonitor.testing.fake_provider`` on loopback.

Install: ``pip install "llamonitor-autogen[agentchat]"``.
Run: ``uv run python examples/23_autogen.py``
"""

import asyncio
import tempfile

import pyarrow.parquet as pq
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.openai import OpenAIChatCompletionClient
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, shutdown_monitoring
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_autogen import instrument_autogen, uninstrument_autogen


async def main(data_dir: str) -> None:
    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_autogen()  # autogen-agentchat teams (and AG2 agents, if installed)

    with FakeProvider() as fake:
        for i, text in enumerate(["Draft: llamas are calm.", "Review: add where they live.",
                                  "Draft 2: llamas are calm Andean animals.", "Review: approved."]):
            fake.reply(text=text, model="gpt-4o-mini-2024-07-18", input_tokens=40 + 10 * i, output_tokens=8)
        client = OpenAIChatCompletionClient(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test",
                                            max_retries=0)
        writer = AssistantAgent("writer", model_client=client, system_message="Write drafts.")
        reviewer = AssistantAgent("reviewer", model_client=client, system_message="Review drafts.")
        team = RoundRobinGroupChat([writer, reviewer], termination_condition=MaxMessageTermination(5))
        result = await team.run(task="Write one sentence about llamas.")
        print(f"team finished after {len(result.messages)} messages: {result.messages[-1].content}")
        await client.close()

    uninstrument_autogen()
    await shutdown_monitoring()

    rows = sorted(pq.ParquetDataset(data_dir).read().to_pylist(), key=lambda r: r["start_time"])
    print(f"recorded {len(rows)} events")
    for r in rows:
        agent, usage = r["agent"] or {}, r["usage"] or {}
        tokens = f" tokens={usage['input_tokens']}+{usage['output_tokens']}" if usage.get("input_tokens") else ""
        handoff = f" handoff_from={agent['handoff_from']}" if agent.get("handoff_from") else ""
        print(f"  {r['operation_type']:<10} {r['operation_name']:<36} agent={agent.get('agent_name')}{handoff}{tokens}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
