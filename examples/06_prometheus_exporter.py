"""Prometheus exporter: serve ``/metrics`` and scrape it.

Shows: enabling ``PrometheusConfig`` in ``config.extensions``, then fetching the metrics page the
way Prometheus would (on a free loopback port) and printing the llamonitor series.

Run: ``uv run python examples/06_prometheus_exporter.py``
"""

import asyncio
import tempfile

import httpx
from llamonitor import (
    MonitorConfig,
    PrometheusConfig,
    StorageConfig,
    flush_monitoring,
    get_writer,
    initialize_monitoring,
    monitor_llm,
    shutdown_monitoring,
)


@monitor_llm("summarise", measure_text=True, custom_attributes={"model": "gpt-4o-mini"})
async def summarise(text: str) -> str:
    if not text:
        raise ValueError("empty input")
    return text[:20]


async def main(data_dir: str) -> None:
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir))
    config.extensions["prometheus"] = PrometheusConfig(enabled=True, port=0).model_dump()  # port=0: a free port
    await initialize_monitoring(config)
    for text in ["a long document " * 10, "another one", ""]:
        try:
            await summarise(text)
        except ValueError:
            pass
    await flush_monitoring()

    exporter = next(s.sink for s in get_writer().sinks if s.name == "prometheus")
    async with httpx.AsyncClient() as client:
        page = (await client.get(f"http://127.0.0.1:{exporter.port}/metrics")).text
    print(f"scraped http://127.0.0.1:{exporter.port}/metrics")
    for line in page.splitlines():
        if line.startswith(("llm_operations_total", "llm_errors_total", "llm_text_characters_total")):
            print(f"  {line}")
    await shutdown_monitoring()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
