"""The Google ADK shop the adapter's tests and the end-to-end tests drive: a coordinator that
transfers to a billing specialist, the replies it needs, and a helper to run an agent once."""

from __future__ import annotations

from typing import Any

from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.models import Gemini
from google.adk.runners import InMemoryRunner
from google.genai import types
from llamonitor.testing.fake_provider import FakeProvider

MODEL = "gemini-2.5-flash"


def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id}: shipped"


def gemini(fake: FakeProvider) -> Gemini:
    return Gemini(model=MODEL, base_url=fake.gemini_base_url)


def shop(fake: FakeProvider, *, tools: list[Any] | None = None) -> LlmAgent:
    billing = LlmAgent(name="Billing", model=gemini(fake), instruction="Answer billing questions.",
                       description="Billing questions: orders, invoices.", tools=tools or [lookup_order])
    return LlmAgent(name="Coordinator", model=gemini(fake), instruction="Route the customer.", sub_agents=[billing])


def script_transfer(fake: FakeProvider) -> None:
    """Coordinator transfers, Billing calls the tool, Billing answers."""
    fake.reply(tool_calls=[("transfer_to_agent", {"agent_name": "Billing"})], input_tokens=40, output_tokens=6)
    fake.reply(tool_calls=[("lookup_order", {"order_id": "42"})], input_tokens=50, output_tokens=8)
    fake.reply(text="Your order 42 has shipped.", input_tokens=60, output_tokens=9)


async def run(agent: Any, text: str = "where is order 42?", *, stream: bool = False, runner: Any = None,
              session_id: str | None = None) -> tuple[list[Any], Any]:
    """Run ``agent`` once; returns (ADK events, runner)."""
    runner = runner or InMemoryRunner(agent=agent, app_name="shop")
    if session_id is None:
        session = await runner.session_service.create_session(app_name="shop", user_id="u1")
        session_id = session.id
    config = RunConfig(streaming_mode=StreamingMode.SSE if stream else StreamingMode.NONE)
    events = [e async for e in runner.run_async(user_id="u1", session_id=session_id, run_config=config,
                                                new_message=types.Content(role="user", parts=[types.Part(text=text)]))]
    return events, runner


def final_text(events: list[Any]) -> str:
    texts = [p.text for e in events if e.content and not e.partial for p in e.content.parts or () if p.text]
    return texts[-1] if texts else ""
