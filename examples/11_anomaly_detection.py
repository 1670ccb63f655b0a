"""Anomaly detection: learn a baseline from stored events, then alert on live ones.

Shows: ``AnomalyDetectionService`` trained on history read through the query layer, attached to
the running writer (``attach_to_monitoring``) so every new batch is checked, and the alert
callback firing for a latency spike.

Run: ``uv run python examples/11_anomaly_detection.py``
"""

import asyncio
import random
import tempfile

from llamonitor import (
    MonitorConfig,
    StorageConfig,
    flush_monitoring,
    initialize_monitoring,
    monitor_llm,
    shutdown_monitoring,
)
from llamonitor.query import create_query_backend
from llmops_monitoring.anomaly import AnomalyDetectionService, AnomalyResult

alerts: list[AnomalyResult] = []


def alert_handler(anomaly: AnomalyResult) -> None:
    alerts.append(anomaly)
    print(f"ALERT {anomaly.operation_name}: {anomaly.metric_name} {anomaly.severity.value} "
          f"(score {anomaly.anomaly_score:.3f}, value {anomaly.value:.1f} vs expected {anomaly.expected:.1f})")


@monitor_llm("retrieve", operation_type="retrieval")
async def retrieve(query: str, slow: bool = False) -> str:
    await asyncio.sleep(0.25 if slow else random.uniform(0.004, 0.008))
    return f"documents for {query}"


async def main(data_dir: str) -> None:
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir))
    await initialize_monitoring(config)
    for i in range(40):  # normal traffic: the baseline
        await retrieve(f"q{i}")
    await flush_monitoring()

    query = create_query_backend(config.storage)
    history = (await query.events(limit=1000)).events
    await query.close()
    service = AnomalyDetectionService(alert_callback=alert_handler, metrics=["duration_ms"])
    await service.train(history)
    baseline = service.get_baseline("retrieve", "duration_ms")
    print(f"trained on {len(history)} events: latency mean {baseline.mean:.1f} ms")

    service.attach_to_monitoring()  # check every batch the writer builds from now on
    await retrieve("normal")
    await retrieve("spike", slow=True)
    await shutdown_monitoring()
    print(f"alerts: {len(alerts)}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
