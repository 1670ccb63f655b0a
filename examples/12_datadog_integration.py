"""Datadog integration: send metrics over DogStatsD.

Shows: ``DatadogConfig(use_statsd=True)``; instead of a Datadog agent, the example listens on a
loopback UDP port itself and prints the DogStatsD lines it receives (``name:value|type|#tags``).

Run: ``uv run python examples/12_datadog_integration.py``
"""

import asyncio
import socket
import tempfile

from llamonitor import (
    DatadogConfig,
    MonitorConfig,
    StorageConfig,
    initialize_monitoring,
    monitor_llm,
    shutdown_monitoring,
)


@monitor_llm("classify", measure_text=True, custom_attributes={"model": "gpt-4o-mini"})
async def classify(text: str) -> str:
    return "positive"


async def main(data_dir: str) -> None:
    agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # stands in for the Datadog agent
    agent.bind(("127.0.0.1", 0))
    agent.settimeout(5.0)

    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir))
    config.extensions["datadog"] = DatadogConfig(
        enabled=True, use_statsd=True, statsd_host="127.0.0.1", statsd_port=agent.getsockname()[1],
        tags=["env:example"], submission_interval=0.2,
    ).model_dump()
    await initialize_monitoring(config)
    for text in ["great product", "fast delivery", "would buy again"]:
        await classify(text)
    await shutdown_monitoring()  # the exporter sends what it aggregated once more at shutdown

    lines: list[str] = []
    try:
        while not any(line.startswith("llmops.operations.count") for line in lines):
            lines += agent.recv(65535).decode().splitlines()
    except TimeoutError:
        pass
    agent.close()
    print(f"received {len(lines)} DogStatsD lines")
    for line in lines:
        print(f"  {line}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
