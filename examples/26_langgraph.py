"""LangGraph: graph nodes recorded as agents, with the handoffs between them, ``instrument_langchain()``.

Shows: a two-node graph (``researcher`` then ``writer``) where every run inside a node carries
the node as its agent identity, each transition is a ``handoff`` event, and the graph's
``thread_id`` becomes the session. It runs offline: ``ChatOpenAI`` points at
``llamonitor.testing.fake_provider`` on loopback.

Install: ``pip install "llamonitor-langchain[langchain]" langgraph langchain-openai``.
Run: ``uv run python examples/26_langgraph.py``
"""

import tempfile
from typing import Annotated, TypedDict

import pyarrow.parquet as pq
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring_sync, shutdown_sync
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_langchain import instrument_langchain, uninstrument_langchain


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def build_graph(model: ChatOpenAI):
    def researcher(state: State) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    def writer(state: State) -> dict:
        return {"messages": [model.invoke(["Write one line from these notes:", state["messages"][-1]])]}

    graph = StateGraph(State)
    graph.add_node("researcher", researcher)
    graph.add_node("writer", writer)
    graph.add_edge(START, "researcher")
    graph.add_edge("researcher", "writer")
    graph.add_edge("writer", END)
    return graph.compile()


def main(data_dir: str) -> None:
    initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_langchain()

    with FakeProvider() as fake:
        fake.reply(text="Notes: llamas live in the Andes; they hum.", input_tokens=25, output_tokens=11)
        fake.reply(text="Andean llamas hum.", input_tokens=40, output_tokens=5)
        model = ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test", max_retries=0)
        out = build_graph(model).invoke({"messages": [HumanMessage("Tell me about llamas")]},
                                        config={"configurable": {"thread_id": "thread-7"}})
        print("graph result:", out["messages"][-1].content)

    uninstrument_langchain()
    shutdown_sync()

    rows = sorted(pq.ParquetDataset(data_dir).read().to_pylist(), key=lambda r: r["start_time"])
    print(f"recorded {len(rows)} events in session {rows[0]['session_id']}")
    for r in rows:
        if r["operation_type"] in ("graph_node", "chat", "handoff"):
            agent = r["agent"] or {}
            print(f"  {r['operation_type']:<10} {r['operation_name']:<28} agent={agent.get('agent_name')}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
