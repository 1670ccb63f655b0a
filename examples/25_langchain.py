"""LangChain: every run of a chain recorded with one line, ``instrument_langchain()``.

Shows: a prompt | chat model | parser chain recorded as one trace tree (the chain, the prompt,
the model call with its usage, the parser), inside a llamonitor session. It runs offline:
``ChatOpenAI`` points at ``llamonitor.testing.fake_provider`` on loopback.

Install: ``pip install "llamonitor-langchain[langchain]" langchain-openai``.
Run: ``uv run python examples/25_langchain.py``
"""

import tempfile

import pyarrow.parquet as pq
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring_sync, monitoring_session, shutdown_sync
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_langchain import instrument_langchain, uninstrument_langchain


def main(data_dir: str) -> None:
    initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_langchain()  # every LangChain / LangGraph run from now on

    with FakeProvider() as fake, monitoring_session("user-1"):
        fake.reply(text="Bonjour le monde", input_tokens=18, output_tokens=4)
        model = ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test", max_retries=0)
        chain = ChatPromptTemplate.from_messages([("user", "Translate to French: {text}")]) | model | StrOutputParser()
        print("chain result:", chain.invoke({"text": "Hello world"}))

    uninstrument_langchain()
    shutdown_sync()

    rows = pq.ParquetDataset(data_dir).read().to_pylist()
    print(f"recorded {len(rows)} events in session {rows[0]['session_id']}")
    children: dict = {}
    for r in sorted(rows, key=lambda r: r["start_time"]):
        children.setdefault(r["parent_span_id"], []).append(r)
    spans = {r["span_id"] for r in rows}

    def show(parent: str | None, depth: int) -> None:
        for r in children.get(parent, []):
            usage = r["usage"] or {}
            tokens = f" tokens={usage['input_tokens']}+{usage['output_tokens']}" if usage.get("input_tokens") else ""
            print(f"  {'  ' * depth}{r['operation_type']}: {r['operation_name']}{tokens}")
            show(r["span_id"], depth + 1)

    for root in {r["parent_span_id"] for r in rows if r["parent_span_id"] not in spans}:
        show(root, 0)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
