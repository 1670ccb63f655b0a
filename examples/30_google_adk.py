"""Google ADK: a coordinator transfers to a specialist sub-agent, recorded with true agent identities.

Shows: ``instrument_google_adk()`` adds llamonitor's plugin to every ADK ``Runner``. A coordinator
agent hands the customer to its ``Billing`` sub-agent through ADK's ``transfer_to_agent``; Billing
calls a function tool and answers. One trace holds the run, each agent, each Gemini model call
(with the usage the provider reported), the transfer (a ``handoff`` event) and the tool call;
Billing's events carry ``handoff_from=Coordinator``, which ``llamonitor analyze`` reports as a
handoff. It runs offline: the agents' Gemini model points at ``llamonitor.testing.fake_provider``
on loopback (``Gemini(base_url=...)`` and a dummy API key).

Install (from a clone): ``pip install "./packages/llamonitor-google-adk[adk]"``.
Run: ``uv run python examples/30_google_adk.py``
"""

import asyncio
import os
import tempfile

os.environ.setdefault("GOOGLE_API_KEY", "test")  # google-genai needs a key; the fake provider ignores it

from _show import print_agent_events  # examples/_show.py: one line per stored event
from google.adk.agents import LlmAgent
from google.adk.models import Gemini
from google.adk.runners import InMemoryRunner
from google.genai import types
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, shutdown_monitoring
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_google_adk import instrument_google_adk, uninstrument_google_adk


def lookup_order(order_id: str) -> str:
    """Look an order up in the shop's database."""
    return f"order {order_id}: shipped yesterday"


async def main(data_dir: str) -> None:
    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_google_adk()  # before building the Runner

    with FakeProvider() as fake:
        fake.reply(tool_calls=[("transfer_to_agent", {"agent_name": "Billing"})], input_tokens=80, output_tokens=9)
        fake.reply(tool_calls=[("lookup_order", {"order_id": "42"})], input_tokens=120, output_tokens=12)
        fake.reply(text="Order 42 shipped yesterday.", input_tokens=150, output_tokens=8)
        model = Gemini(model="gemini-2.5-flash", base_url=fake.gemini_base_url)
        billing = LlmAgent(name="Billing", model=model, instruction="Answer billing questions.",
                           description="Orders, invoices and refunds.", tools=[lookup_order])
        coordinator = LlmAgent(name="Coordinator", model=model, instruction="Route the customer to a specialist.",
                               sub_agents=[billing])
        runner = InMemoryRunner(agent=coordinator, app_name="shop")
        session = await runner.session_service.create_session(app_name="shop", user_id="customer-7")
        message = types.Content(role="user", parts=[types.Part(text="Where is my order 42?")])
        async for event in runner.run_async(user_id="customer-7", session_id=session.id, new_message=message):
            if event.is_final_response() and event.content and event.content.parts:
                print(f"final output ({event.author}):", event.content.parts[0].text)
        await runner.close()

    uninstrument_google_adk()
    await shutdown_monitoring()

    print_agent_events(data_dir)
    print("next: llamonitor analyze --dir <data dir> shows the Coordinator -> Billing handoff")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
