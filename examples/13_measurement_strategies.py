"""Measurement strategies: capacity, token, hybrid and auto.

Shows: ``measure_text`` called directly (tokens, characters, reliability), then the same reply
recorded under each ``measurement=`` mode and the ``text_metrics`` each one fills. ``auto``
counts exact tokens for OpenAI models and marks an estimate for others (Claude here).
Tokenizer encodings ship with the package: no download.

Run: ``uv run python examples/13_measurement_strategies.py``
"""

import asyncio
import tempfile

import pyarrow.parquet as pq
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, monitor_llm, shutdown_monitoring
from llmops_monitoring.measurement import measure_text

REPLY = "Observability means knowing what your LLM application did, and why.\nIt is cheap here."


def make_call(mode: str, model: str):
    @monitor_llm(operation_name=f"{mode}:{model}", measurement=mode, measure_text=True,
                 custom_attributes={"model": model})
    async def call(prompt: str) -> str:
        return REPLY

    return call


async def main(data_dir: str) -> None:
    result = await measure_text("Hello, world!", mode="token", context={"model": "gpt-4"})
    print(f"measure_text: {result.total_tokens} tokens, {result.char_count} chars, "
          f"reliability {result.metadata.reliability.value}")

    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    for mode, model in [("capacity", "gpt-4o"), ("token", "gpt-4o"), ("hybrid", "gpt-4o"),
                        ("auto", "gpt-4o"), ("auto", "claude-sonnet-4-6")]:
        await make_call(mode, model)("Explain observability in one line.")
    await shutdown_monitoring()

    rows = pq.ParquetDataset(data_dir).read(columns=["operation_name", "start_time", "text_metrics"]).to_pylist()
    print(f"recorded {len(rows)} events")
    for row in sorted(rows, key=lambda r: r["start_time"]):
        tm = row["text_metrics"]
        print(f"  {row['operation_name']:<24} chars={tm['char_count']} words={tm['word_count']} "
              f"tokens={tm['total_tokens']} ({tm['token_reliability']}, {tm['tokenizer']})")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
