"""Anthropic SDK: every ``messages`` call recorded with one line, ``instrument_anthropic()``.

Shows: an async call with prompt-cache reads (priced at the cached rate) and the
``messages.stream()`` helper through the real ``anthropic`` SDK, each recorded with model,
tokens, cost and time to first token. It runs offline: the example starts
``llamonitor.testing.fake_provider`` (an Anthropic-compatible server on loopback).

Install: ``pip install "llamonitor-anthropic[anthropic]"``.
Run: ``uv run python examples/21_anthropic.py``
"""

import asyncio
import tempfile

import anthropic
import pyarrow.parquet as pq
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, monitoring_agent, shutdown_monitoring
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_anthropic import instrument_anthropic, uninstrument_anthropic


async def main(data_dir: str) -> None:
    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_anthropic()  # every Anthropic / AsyncAnthropic client from now on

    with FakeProvider() as fake, monitoring_agent("support-bot", role="support"):
        client = anthropic.AsyncAnthropic(base_url=fake.anthropic_base_url, api_key="test", max_retries=0)
        fake.reply(text="Your order ships today.", input_tokens=20, cached_tokens=800, output_tokens=6)
        await client.messages.create(model="claude-haiku-4-5", max_tokens=100,
                                     messages=[{"role": "user", "content": "Where is my order?"}])

        fake.reply(text="You're welcome!", input_tokens=30, output_tokens=4)
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100,
                                          messages=[{"role": "user", "content": "Thanks!"}]) as stream:
            print("streamed:", "".join([text async for text in stream.text_stream]))
        await client.close()

    uninstrument_anthropic()
    await shutdown_monitoring()

    rows = pq.ParquetDataset(data_dir).read().to_pylist()
    print(f"recorded {len(rows)} events")
    for r in sorted(rows, key=lambda r: r["start_time"]):
        u, cost = r["usage"], r["cost"] or {}
        print(f"  {r['operation_name']} agent={r['agent']['agent_name']} input={u['input_tokens']} "
              f"(cached {u['cached_input_tokens']}) output={u['output_tokens']} "
              f"cost=${cost.get('total_cost_usd') or 0:.6f}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
