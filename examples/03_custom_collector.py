"""Custom collector: add your own metrics to every event.

Shows: subclassing ``MetricCollector``, registering it with ``CollectorRegistry`` and enabling it
per function with ``collectors=[...]``. Collectors run in the background writer thread.

Run: ``uv run python examples/03_custom_collector.py``
"""

import asyncio
import tempfile

import pandas as pd
from llamonitor import (
    CollectorRegistry,
    MetricCollector,
    MonitorConfig,
    StorageConfig,
    initialize_monitoring,
    monitor_llm,
    shutdown_monitoring,
)


class SentimentCollector(MetricCollector):
    """Counts positive words in the result (a stand-in for any metric of yours)."""

    def collect(self, result, args, kwargs, context):
        text = str(result).lower()
        positive = sum(text.count(w) for w in ("great", "good", "happy"))
        return {"custom_attributes": {"positive_words": positive, "prompt_length": len(args[0])}}

    @property
    def metric_type(self) -> str:
        return "custom"


CollectorRegistry.register("sentiment", SentimentCollector)


@monitor_llm(operation_name="reply", collectors=["sentiment"])
async def reply(prompt: str) -> str:
    return "Great question! Happy to help, good luck."


async def main(data_dir: str) -> None:
    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    await reply("How do I monitor my LLM app?")
    await reply("Thanks")
    await shutdown_monitoring()

    df = pd.read_parquet(data_dir)  # custom_attributes reads as dicts in pandas
    print(f"recorded {len(df)} events")
    for _, r in df.iterrows():
        attrs = r["custom_attributes"]
        print(f"  {r['operation_name']}: positive_words={attrs['positive_words']} "
              f"prompt_length={attrs['prompt_length']}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
