"""PydanticAI: one agent delegating to another, recorded with true agent identities, ``instrument_pydantic_ai()``.

Shows: a triage agent hands the customer's question to a billing agent from inside one of its
tools; the billing agent calls a tool of its own and answers. One trace holds both agent runs,
each model request (with the usage the provider reported), and both tool calls; the billing
agent's events carry ``handoff_from=Triage`` and its run is a child of the triage agent's tool
call. With ``instrument_openai()`` also active, each model request is still recorded once. It
runs offline: the agents' OpenAI client points at ``llamonitor.testing.fake_provider`` on loopback.

Install: ``pip install "./packages/llamonitor-pydantic-ai[pydantic-ai]"``.
Run: ``uv run python examples/29_pydantic_ai.py``
"""

import asyncio
import tempfile

from _show import print_agent_events  # examples/_show.py: one line per stored event
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, shutdown_monitoring
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_openai import instrument_openai, uninstrument_openai
from llamonitor_pydantic_ai import instrument_pydantic_ai, uninstrument_pydantic_ai
from openai import AsyncOpenAI
from pydantic_ai import Agent, RunContext
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider


def build_agents(base_url: str) -> Agent:
    client = AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0)
    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))
    billing = Agent(model, name="Billing", instructions="Answer billing questions.")
    triage = Agent(model, name="Triage", instructions="Route the customer; ask Billing about orders.")

    @billing.tool_plain
    def lookup_order(order_id: str) -> str:
        """Look an order up in the shop's database."""
        return f"order {order_id}: shipped yesterday"

    @triage.tool
    async def ask_billing(ctx: RunContext[None], question: str) -> str:
        """Hand a billing question to the billing agent."""
        result = await billing.run(question, usage=ctx.usage)  # the delegation: a handoff to Billing
        return result.output

    return triage


async def main(data_dir: str) -> None:
    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_pydantic_ai()
    instrument_openai()  # still one event per model request

    with FakeProvider() as fake:
        fake.reply(tool_calls=[("ask_billing", {"question": "Where is order 42?"})], input_tokens=80, output_tokens=9)
        fake.reply(tool_calls=[("lookup_order", {"order_id": "42"})], input_tokens=120, output_tokens=12)
        fake.reply(text="Order 42 shipped yesterday.", input_tokens=150, output_tokens=8)
        fake.reply(text="Your order 42 shipped yesterday.", input_tokens=110, output_tokens=10)
        result = await build_agents(fake.openai_base_url).run("Where is my order 42?")
        print("final output:", result.output)

    uninstrument_openai()
    uninstrument_pydantic_ai()
    await shutdown_monitoring()

    print_agent_events(data_dir)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
