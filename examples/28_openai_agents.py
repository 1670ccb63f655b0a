"""OpenAI Agents SDK: a two-agent handoff recorded with true agent identities, ``instrument_openai_agents()``.

Shows: a triage agent hands the conversation to a billing agent, which calls a function tool and
answers. One trace holds the run, each agent, each turn, each model call (with the usage the
provider reported), the tool call and the handoff; the billing agent's events carry
``handoff_from=Triage``. With ``instrument_openai()`` also active, each model call is still
recorded once. It runs offline: the agents' OpenAI client points at
``llamonitor.testing.fake_provider`` on loopback, and the SDK's own export to the OpenAI platform
is replaced by llamonitor's processor alone.

Install: ``pip install "llamonitor-openai-agents[agents]"``.
Run: ``uv run python examples/28_openai_agents.py``
"""

import asyncio
import os
import tempfile

os.environ.setdefault("OPENAI_API_KEY", "test")

from _show import print_agent_events  # examples/_show.py: one line per stored event
from agents import Agent, OpenAIResponsesModel, Runner, function_tool
from agents.tracing import set_trace_processors
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, shutdown_monitoring
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_openai import instrument_openai, uninstrument_openai
from llamonitor_openai_agents import instrument_openai_agents, uninstrument_openai_agents
from openai import AsyncOpenAI


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up in the shop's database."""
    return f"order {order_id}: shipped yesterday"


async def main(data_dir: str) -> None:
    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    set_trace_processors([])  # offline: no export to platform.openai.com
    instrument_openai_agents()
    instrument_openai()  # still one event per model call

    with FakeProvider() as fake:
        fake.reply(tool_calls=[("transfer_to_billing", {})], input_tokens=80, output_tokens=9)
        fake.reply(tool_calls=[("lookup_order", {"order_id": "42"})], input_tokens=120, output_tokens=12)
        fake.reply(text="Order 42 shipped yesterday.", input_tokens=150, output_tokens=8)
        client = AsyncOpenAI(base_url=fake.openai_base_url, api_key="test", max_retries=0)
        model = OpenAIResponsesModel(model="gpt-4o-mini", openai_client=client)
        billing = Agent(name="Billing", instructions="Answer billing questions.", model=model, tools=[lookup_order])
        triage = Agent(name="Triage", instructions="Route the customer.", model=model, handoffs=[billing])
        result = await Runner.run(triage, "Where is my order 42?")
        print("final output:", result.final_output)

    uninstrument_openai()
    uninstrument_openai_agents()
    await shutdown_monitoring()

    print_agent_events(data_dir)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
