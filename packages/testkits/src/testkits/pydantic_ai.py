"""The PydanticAI shop the adapter's tests and the end-to-end tests drive: Triage delegates to
Billing from inside its ``ask_billing`` tool, Billing has a tool of its own; the replies it needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llamonitor.testing.fake_provider import FakeProvider
from pydantic_ai import RunContext  # module level: tool signatures are resolved in this module's globals


def model(fake: FakeProvider, *, responses: bool = False) -> Any:
    """``gpt-4o-mini`` over the fake provider (Chat Completions, or the Responses API)."""
    from openai import AsyncOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(openai_client=AsyncOpenAI(base_url=fake.openai_base_url, api_key="test",
                                                        max_retries=0))
    cls = OpenAIResponsesModel if responses else OpenAIChatModel
    return cls("gpt-4o-mini", provider=provider)


def two_agents(fake: FakeProvider, *, responses: bool = False, stream: bool = False) -> tuple[Any, Any]:
    """``(triage, billing)``; with ``stream`` Triage's tool runs Billing with ``run_stream``."""
    from pydantic_ai import Agent

    shared = model(fake, responses=responses)
    billing = Agent(shared, name="Billing", instructions="Answer billing questions.")
    triage = Agent(shared, name="Triage", instructions="Route the customer.")

    @billing.tool_plain
    def lookup_order(order_id: str) -> str:
        """Look an order up."""
        return f"order {order_id}: shipped"

    @triage.tool
    async def ask_billing(ctx: RunContext[None], question: str) -> str:
        """Ask the billing agent."""
        if stream:
            async with billing.run_stream(question, usage=ctx.usage) as run:
                return await run.get_output()
        return (await billing.run(question, usage=ctx.usage)).output

    return triage, billing


def script_delegation(fake: FakeProvider, input_tokens: Sequence[int] = (40, 50, 60, 70),
                      output_tokens: Sequence[int] = (6, 8, 9, 10)) -> None:
    """Triage calls ``ask_billing``, Billing calls ``lookup_order``, Billing answers, Triage answers."""
    fake.reply(tool_calls=[("ask_billing", {"question": "where is order 42?"})], input_tokens=input_tokens[0],
               output_tokens=output_tokens[0])
    fake.reply(tool_calls=[("lookup_order", {"order_id": "42"})], input_tokens=input_tokens[1],
               output_tokens=output_tokens[1])
    fake.reply(text="Order 42 has shipped.", input_tokens=input_tokens[2], output_tokens=output_tokens[2])
    fake.reply(text="Your order 42 has shipped.", input_tokens=input_tokens[3], output_tokens=output_tokens[3])
