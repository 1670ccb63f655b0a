"""LlamaIndex: queries, retrievals, embeddings and LLM calls recorded with ``instrument_llamaindex()``.

Shows: a ``VectorStoreIndex`` query recorded as one tree (query -> retrieval -> embeddings,
query -> synthesize -> chat with the provider's usage). It runs offline: a mock embedding model
and LlamaIndex's ``OpenAI`` LLM pointed at ``llamonitor.testing.fake_provider`` on loopback.

Install: ``pip install "llamonitor-llamaindex[llamaindex]" llama-index-llms-openai``.
Run: ``uv run python examples/27_llamaindex.py``
"""

import tempfile

import pyarrow.parquet as pq
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.llms.openai import OpenAI
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring_sync, shutdown_sync
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_llamaindex import instrument_llamaindex, uninstrument_llamaindex


def main(data_dir: str) -> None:
    initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_llamaindex()

    with FakeProvider() as fake:
        fake.reply(text="Llamas hum to communicate.", input_tokens=60, output_tokens=6)
        docs = [Document(text="Llamas hum to communicate."), Document(text="Alpacas are smaller than llamas.")]
        index = VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))
        llm = OpenAI(model="gpt-4o-mini", api_base=fake.openai_base_url, api_key="test", max_retries=0)
        print("answer:", index.as_query_engine(llm=llm).query("How do llamas communicate?"))

    uninstrument_llamaindex()
    shutdown_sync()

    rows = pq.ParquetDataset(data_dir).read().to_pylist()
    print(f"recorded {len(rows)} events")
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

    for root in sorted({r["parent_span_id"] or "" for r in rows if r["parent_span_id"] not in spans}):
        show(root or None, 0)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
