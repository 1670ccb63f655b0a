"""ClickHouse backend: write events to ClickHouse and run analytics over them.

Shows: ``StorageConfig(backend="clickhouse")`` (ReplacingMergeTree partitioned by month) and the
query layer's per-model aggregates with exact percentiles. It runs offline on the in-process
chDB engine (``chdb://memory``); point ``LLAMONITOR_EXAMPLE_CLICKHOUSE`` at a server
(``clickhouse://default:@localhost:8123/monitoring``) to use a real one. Uses its own database
and drops it at the end.

Run: ``uv run python examples/09_clickhouse_backend.py``
"""

import asyncio
import os
import random
import uuid

import clickhouse_connect
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring, monitor_llm, shutdown_monitoring
from llamonitor.query import create_query_backend

DSN = os.environ.get("LLAMONITOR_EXAMPLE_CLICKHOUSE", "chdb://memory")
DATABASE = f"example_{uuid.uuid4().hex[:8]}"


def make_call(model: str):
    @monitor_llm(f"chat_{model}", measure_text=True, measurement="token", collectors=["cost"],
                 custom_attributes={"model": model})
    async def call(prompt: str) -> str:
        await asyncio.sleep(random.uniform(0.001, 0.004))
        return "word " * random.randint(10, 60)

    return call


async def main() -> None:
    storage = StorageConfig(backend="clickhouse", connection_string=DSN, schema_name=DATABASE,
                            table_name="metric_events")
    await initialize_monitoring(MonitorConfig(storage=storage))
    for model in ["gpt-4o-mini", "gpt-4o"]:
        call = make_call(model)
        await asyncio.gather(*(call(f"question {i}") for i in range(20)))
    await shutdown_monitoring()

    query = create_query_backend(storage)
    try:
        summary = await query.summary()
        print(f"recorded {summary.total_events} events in {DATABASE}.metric_events, "
              f"total cost ${summary.total_cost_usd:.6f}")
        for row in await query.aggregates("model"):
            print(f"  {row.key}: {row.events} events, p95 {row.latency.p95_ms:.1f} ms, "
                  f"cost ${row.cost_usd:.6f}")
    finally:
        await query.close()
        clickhouse_connect.get_client(dsn=DSN).command(f"DROP DATABASE IF EXISTS `{DATABASE}`")


if __name__ == "__main__":
    asyncio.run(main())
