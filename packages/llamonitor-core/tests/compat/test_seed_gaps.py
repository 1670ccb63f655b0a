"""One test per seed-compatibility gap of issue 19 (writer methods, config fields, events, ...)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import llamonitor
import pytest
from llamonitor.schema.config import MonitorConfig, PrometheusConfig, WebSocketConfig
from llamonitor.schema.events import MetricEvent
from llamonitor.testing import InMemoryBackend


def seed_event(name: str = "manual", **extra: object) -> MetricEvent:
    """The seed's constructor: no ids or clocks of ours, a ``timestamp`` and ``duration_ms``."""
    return MetricEvent(session_id="s-1", trace_id="t-1", span_id="sp-1", operation_name=name,
                       timestamp=datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc), duration_ms=12.5,
                       **extra)  # type: ignore[arg-type]


def test_metric_event_seed_constructor() -> None:
    event = seed_event(custom_attributes={"model": "gpt-4"})
    assert event.timestamp == event.start_time == datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert event.end_time_ns - event.start_time_ns == 12_500_000 and event.duration_ms == 12.5
    assert len(event.event_id) == 36 and event.custom_attributes == {"model": "gpt-4"}
    # the seed's error field held the message
    failed = seed_event(error="boom", error_type="ValueError")
    assert failed.error is True and failed.error_message == "boom" and failed.error_type == "ValueError"
    # seed default: now, no duration
    bare = MetricEvent(session_id="s", trace_id="t", span_id="x", operation_name="op")  # type: ignore[call-arg]
    assert abs((bare.start_time - datetime.now(timezone.utc)).total_seconds()) < 60 and bare.duration_ms == 0.0
    with pytest.raises(TypeError):
        MetricEvent(trace_id="t", span_id="x", operation_name="op")  # type: ignore[call-arg]


def test_writer_seed_methods(memory_config: MonitorConfig, memory_sink: InMemoryBackend) -> None:
    from llmops_monitoring import MonitoringWriter

    async def scenario() -> None:
        assert MonitoringWriter.get_instance_sync() is None
        writer = await MonitoringWriter.get_instance(memory_config)  # starts monitoring, like the seed
        assert MonitoringWriter.get_instance_sync() is writer is llamonitor.get_writer()
        assert await MonitoringWriter.get_instance() is writer
        await writer.start()  # already running: a no-op the seed's code can await
        health = await writer.health_check()
        assert health["running"] is True and health["backend_healthy"] is True
        assert health["queue_size"] == 0 and health["buffer_size"] == 0
        await writer.write_event(seed_event())
        await writer.stop(timeout=10)
        assert not writer.running

    asyncio.run(scenario())
    assert [e.operation_name for e in memory_sink.events] == ["manual"]
    assert memory_sink.events[0].duration_ms == 12.5


def test_seed_config_fields_are_accepted() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the seed's defaults are what llamonitor does: no warning
        cfg = MonitorConfig(fail_silently=True, auto_start=True, worker_threads=1, retry_failed_writes=True)
        PrometheusConfig(path="/metrics", include_labels=["operation_name", "model", "operation_type"])
        WebSocketConfig(path="/api/v1/stream")
    assert cfg.fail_silently and cfg.auto_start and cfg.worker_threads == 1 and cfg.max_retries == 4
    # retry_failed_writes=False has a meaning: no retry, the batch is spilled after one failure
    assert MonitorConfig(retry_failed_writes=False).max_retries == 1
    assert MonitorConfig(retry_failed_writes=False, max_retries=3).max_retries == 3
    for make, replacement in ((lambda: MonitorConfig(worker_threads=4), "one writer thread"),
                              (lambda: MonitorConfig(fail_silently=False), "never raises"),
                              (lambda: MonitorConfig(auto_start=False), "enabled=False"),
                              (lambda: PrometheusConfig(path="/prom"), "/metrics"),
                              (lambda: PrometheusConfig(include_labels=["model"]), "max_label_values"),
                              (lambda: WebSocketConfig(path="/ws"), "/api/v1/stream")):
        with pytest.warns(DeprecationWarning, match=replacement):
            make()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            make()  # once per process


def test_image_collector_reads_result_images_attribute() -> None:
    from llamonitor.instrumentation.collectors.image import ImageCollector

    png = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (64).to_bytes(4, "big") + (32).to_bytes(4, "big")
           + b"\x08\x02\x00\x00\x00" + b"\x00" * 8)

    class Result:
        def __init__(self) -> None:
            self.images = [png, png]

    out = ImageCollector().collect(Result(), (), {}, {})
    metrics = out["image_metrics"]
    assert metrics.image_count == 2 and metrics.total_pixels == 2 * 64 * 32


def test_pandas_reads_custom_attributes_as_dicts_after_import_llamonitor(tmp_path: Path) -> None:
    from llamonitor.backends.parquet import ParquetBackend
    from llamonitor.schema.config import StorageConfig

    backend = ParquetBackend(StorageConfig(output_dir=str(tmp_path)))

    async def write() -> None:
        await backend.initialize()
        await backend.write_batch([seed_event(custom_attributes={"model": "gpt-4", "n": 2})])
        await backend.close()

    asyncio.run(write())
    probe = ("import sys, llamonitor; lazy = 'pyarrow' not in sys.modules; import pandas as pd; "
             f"v = pd.read_parquet({str(tmp_path)!r})['custom_attributes'].iloc[0]; "
             "print(lazy, type(v).__name__, v['model'])")
    for code in (probe, "import pyarrow; " + probe):  # pyarrow imported before or after llamonitor
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        lazy, kind, model = out.stdout.split()
        assert (kind, model) == ("dict", "gpt-4")
        assert lazy == str(not code.startswith("import pyarrow"))  # import llamonitor stays arrow-free
