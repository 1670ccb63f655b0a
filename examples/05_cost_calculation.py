"""Cost calculation: price every call from the built-in price table.

Shows: ``collectors=["cost"]`` with token measurement, the typed ``cost`` group on each event,
the price table itself (``get_price_table``) and a total read back with pandas.

Run: ``uv run python examples/05_cost_calculation.py``
"""

import asyncio
import tempfile

import pandas as pd
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, monitor_llm, shutdown_monitoring
from llamonitor.pricing import get_price_table


def make_call(model: str):
    @monitor_llm(operation_name=f"chat_{model}", measure_text=True, measurement="token",
                 collectors=["cost"], custom_attributes={"model": model})
    async def call(prompt: str) -> dict:
        return {"text": "A detailed answer, about forty words long. " * 5}

    return call


async def main(data_dir: str) -> None:
    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    for model in ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-6"]:
        call = make_call(model)
        for _ in range(3):
            await call("Summarise the quarterly report in three bullet points.")
    await shutdown_monitoring()

    df = pd.read_parquet(data_dir)
    df["cost_usd"] = df["cost"].apply(lambda c: (c or {}).get("total_cost_usd") or 0.0)
    df["model"] = df["custom_attributes"].apply(lambda a: a.get("model"))
    print(f"recorded {len(df)} events")
    print(df.groupby("model")["cost_usd"].sum().map("${:.6f}".format).to_string())
    print(f"Total cost: ${df['cost_usd'].sum():.6f}")
    print(f"price table has {len(get_price_table().models())} models")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
