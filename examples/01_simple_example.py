"""Simple example: decorate a function with ``@monitor_llm`` and read the events back.

Shows: ``initialize_monitoring``, ``@monitor_llm`` with text measurement, Parquet storage under
a temporary folder, and reading the files back with pyarrow.

Run: ``uv run python examples/01_simple_example.py``
"""

import asyncio
import tempfile

import pyarrow.parquet as pq
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, monitor_llm, shutdown_monitoring


@monitor_llm(operation_name="generate_text", measure_text=True, custom_attributes={"model": "gpt-4o-mini"})
async def generate_text(prompt: str) -> dict:
    await asyncio.sleep(0.01)  # your LLM call here
    return {"text": f"A short answer to: {prompt}"}


async def main(data_dir: str) -> None:
    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    for prompt in ["Hello!", "What is observability?", "Tell me a joke."]:
        await generate_text(prompt)
    await shutdown_monitoring()  # drains the queue and writes the last batch

    table = pq.ParquetDataset(data_dir).read()
    print(f"recorded {table.num_rows} events")
    for row in table.select(["operation_name", "duration_ms", "text_metrics"]).to_pylist():
        print(f"  {row['operation_name']}: {row['duration_ms']:.1f} ms, "
              f"{row['text_metrics']['char_count']} chars")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
