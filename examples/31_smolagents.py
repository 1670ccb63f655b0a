"""smolagents: a manager hands work to a managed agent, recorded with true identities, ``instrument_smolagents()``.

Shows: a ``ToolCallingAgent`` named ``manager`` calls its managed ``CodeAgent`` ``researcher``, whose
Python code calls a tool; the manager then answers. One trace holds both runs, every step, every
model call (with the usage the provider reported), the code execution, the tool calls and the
handoff; every event of the researcher's run carries ``handoff_from=manager``. With
``instrument_openai()`` also active, each model call is still recorded once. It runs offline: the
agents' model (``OpenAIServerModel``) points at ``llamonitor.testing.fake_provider`` on loopback, and
the CodeAgent runs its code in smolagents' default local executor.

Install: ``pip install "llamonitor-smolagents[smolagents]"``.
Run: ``uv run python examples/31_smolagents.py``
"""

import tempfile

from _show import print_agent_events  # examples/_show.py: one line per stored event
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring_sync, shutdown_sync
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_openai import instrument_openai, uninstrument_openai
from llamonitor_smolagents import instrument_smolagents, uninstrument_smolagents
from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent, tool
from smolagents.monitoring import LogLevel


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up in the shop's database.

    Args:
        order_id: the order's id
    """
    return f"order {order_id}: shipped yesterday"


def main(data_dir: str) -> None:
    initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_smolagents()
    instrument_openai()  # still one event per model call

    with FakeProvider() as fake:
        # additional_args: the managed-agent call's second argument (required before smolagents 1.22)
        fake.reply(tool_calls=[("researcher", {"task": "Find order 42.", "additional_args": {}})],
                   input_tokens=80, output_tokens=9)
        fake.reply(text="Thought: look it up.\n```py\nfinal_answer(lookup_order(order_id='42'))\n```",
                   input_tokens=120, output_tokens=14)
        fake.reply(tool_calls=[("final_answer", {"answer": "Order 42 shipped yesterday."})],
                   input_tokens=150, output_tokens=8)
        model = OpenAIServerModel(model_id="gpt-4o-mini", api_base=fake.openai_base_url, api_key="test",
                                  client_kwargs={"max_retries": 0})
        researcher = CodeAgent(tools=[lookup_order], model=model, name="researcher",
                               description="Looks orders up.", verbosity_level=LogLevel.OFF)
        manager = ToolCallingAgent(tools=[], model=model, managed_agents=[researcher], name="manager",
                                   verbosity_level=LogLevel.OFF)
        print("final output:", manager.run("Where is my order 42?"))
        print(f"provider requests: {len(fake.requests)}")

    uninstrument_openai()
    uninstrument_smolagents()
    shutdown_sync()

    print_agent_events(data_dir)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
