"""Public methods of the seed's classes that llamonitor aliases, called the seed way, checking values.

``AnomalyDetectionService.get_stats`` and seed-style ``AnomalyResult``; the seed keys of
``AggregationService`` results and ``get_session_details``; the exporters' manual API
(``PrometheusExporter(dict)``, ``record_event``, ``update_queue_metrics``, ``health_check``,
``DatadogExporter.submit_metrics``, ``shutdown``).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import CostInfo, MetricEvent, TextMetrics
from testkits.storage import drop, server_config, store, unique_name

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


def event(op: str, duration_ms: float, *, session: str = "s", trace: str | None = None, at_s: float = 0.0,
          error: bool = False, chars: int | None = None, cost: float | None = None, model: str | None = None,
          op_type: str = "llm_call") -> MetricEvent:
    n = next(_ids)
    return MetricEvent(event_id=f"e{n:05d}", session_id=session, trace_id=trace or f"t{n}", span_id=f"{n:016x}",
                       operation_name=op, operation_type=op_type, timestamp=T0 + timedelta(seconds=at_s),
                       duration_ms=duration_ms, error=error, model=model,
                       text_metrics=TextMetrics(char_count=chars) if chars is not None else None,
                       cost=CostInfo(total_cost_usd=cost) if cost is not None else None)


# -- anomaly service -----------------------------------------------------------------------------

def history() -> list[MetricEvent]:
    return [event("summarize", 100.0 + (i % 5) * 2, at_s=i) for i in range(40)]


def test_anomaly_service_get_stats_counts_like_the_seed() -> None:
    from llmops_monitoring.anomaly import AnomalyDetectionService, AnomalyResult

    sync_alerts: list[AnomalyResult] = []
    async_alerts: list[AnomalyResult] = []

    async def async_alert(result: AnomalyResult) -> None:
        async_alerts.append(result)

    async def run() -> None:
        service = AnomalyDetectionService(alert_callback=sync_alerts.append)
        assert service.get_stats() == {"total_checked": 0, "anomalies_found": 0, "alerts_sent": 0, "is_trained": False,
                                       "detectors": ["ZScoreDetector", "IQRDetector", "ErrorRateDetector"],
                                       "training_size": 0}
        await service.train(history())
        stats = service.get_stats()
        assert stats["is_trained"] is True and stats["training_size"] == 40
        spike, normal = event("summarize", 2500.0, at_s=100), event("summarize", 103.0, at_s=101)
        found = await service.detect([spike, normal])
        (dur,) = [r for r in found if r.metric_name == "duration_ms"]
        # the seed example prints these details when present
        assert dur.details["value"] == 2500.0 and dur.details["mean"] == pytest.approx(104.0)
        assert dur.details["z_score"] == pytest.approx(abs(dur.details["methods"]["z_score"]), abs=1e-3)
        assert dur.details["z_score"] > 3.0
        stats = service.get_stats()
        assert stats["total_checked"] == 2 and stats["anomalies_found"] == len(found) >= 1
        assert stats["alerts_sent"] == len(sync_alerts) == sum(r.is_alert for r in found) >= 1
        # retrain: training_size is the last training's, counters keep running
        await service.retrain(history()[:30])
        await service.detect([spike])
        assert service.get_stats()["training_size"] == 30 and service.get_stats()["total_checked"] == 3
        assert service.get_stats()["alerts_sent"] == len(sync_alerts) == 2

        # a coroutine callback counts once awaited; a failing one is not counted
        aservice = AnomalyDetectionService(alert_callback=async_alert)
        await aservice.train(history())
        await aservice.detect([spike])
        assert aservice.get_stats()["alerts_sent"] == len(async_alerts) == 1

        def broken(result: AnomalyResult) -> None:
            raise RuntimeError("pager down")

        bservice = AnomalyDetectionService(alert_callback=broken)
        await bservice.train(history())
        assert await bservice.detect([spike]) and bservice.get_stats()["alerts_sent"] == 0

    asyncio.run(run())


def test_seed_style_detector_builds_its_own_results() -> None:
    """A custom detector written for the seed: its ``AnomalyResult(is_anomaly=..., details=...)``."""
    from llmops_monitoring.anomaly import AnomalyDetectionService, AnomalyDetector, AnomalyResult
    from llmops_monitoring.anomaly.detector import AnomalySeverity

    class SlowCalls(AnomalyDetector):
        def __init__(self) -> None:
            self.limit = 0.0

        def fit(self, events: Any) -> None:
            self.limit = 10 * max(e.duration_ms for e in events)

        def detect(self, events: Any) -> list[AnomalyResult]:
            out = []
            for e in events:
                score = min(e.duration_ms / (self.limit * 2), 1.0)
                out.append(AnomalyResult(is_anomaly=e.duration_ms > self.limit, anomaly_score=score,
                                         severity=self._determine_severity(score) if e.duration_ms > self.limit
                                         else None, method="slow_calls", operation_name=e.operation_name,
                                         metric_name="duration_ms",
                                         details={"value": e.duration_ms, "threshold": self.limit}))
            return out

    alerts: list[AnomalyResult] = []
    service = AnomalyDetectionService([SlowCalls()])  # the seed's positional order: detectors first
    service.alert_callback = alerts.append

    async def run() -> list[AnomalyResult]:
        await service.train(history())
        return await service.detect([event("summarize", 1800.0), event("summarize", 1900.0),
                                     event("summarize", 100.0)])

    found = asyncio.run(run())
    assert service.get_stats()["detectors"] == ["SlowCalls"]
    # results without event or time are not merged: one per event, as in the seed
    assert [(r.is_anomaly, r.value) for r in found] == [(True, 1800.0), (True, 1900.0), (False, 100.0)]
    slow = found[0]
    assert slow.threshold == 1080.0 and slow.severity is AnomalySeverity.HIGH
    assert slow.anomaly_score == pytest.approx(1800 / 2160) and slow.expected == 0.0
    assert found[2].severity is AnomalySeverity.LOW  # None: from the score
    assert alerts == found[:2] and service.get_stats()["alerts_sent"] == 2
    assert slow.to_dict()["severity"] == "HIGH" and slow.to_dict()["is_anomaly"] is True
    assert "Value: 1800" in slow.describe()


# -- aggregation service -------------------------------------------------------------------------

def stored_events() -> list[MetricEvent]:
    """Two sessions: s1 has traces t1 (2 spans, one failing) and t2; s2 one event, no model."""
    return [
        event("answer", 100.0, session="s1", trace="t1", at_s=0, chars=40, cost=0.002, model="gpt-4o"),
        event("search", 300.0, session="s1", trace="t1", at_s=1, chars=10, error=True, model="gpt-4o",
              op_type="tool"),
        event("answer", 200.0, session="s1", trace="t2", at_s=2, chars=60, cost=0.004, model="gpt-4o"),
        event("answer", 50.0, session="s2", trace="t3", at_s=3, chars=5),
    ]


@pytest.fixture(params=["parquet", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageConfig]:
    if request.param == "parquet":
        config = StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"))
        asyncio.run(store(config, stored_events()))
        yield config
        return
    config = server_config("postgres", unique_name())
    asyncio.run(store(config, stored_events()))
    try:
        yield config
    finally:
        asyncio.run(drop(config))


def test_aggregation_service_returns_the_seeds_keys(storage: StorageConfig) -> None:
    from llmops_monitoring import MonitorConfig
    from llmops_monitoring.aggregation import create_aggregation_service

    async def run() -> None:
        service = await create_aggregation_service(MonitorConfig(storage=storage))
        try:
            ops = {o["operation_name"]: o for o in await service.aggregate_by_operation()}
            answer = ops["answer"]
            assert (answer["count"], answer["error_count"], answer["total_characters"]) == (3, 0, 105)
            assert answer["avg_duration_ms"] == pytest.approx(350 / 3)
            assert answer["p50_duration_ms"] == pytest.approx(100.0)
            assert answer["estimated_cost_usd"] == pytest.approx(0.006)
            assert (ops["search"]["count"], ops["search"]["error_count"], ops["search"]["total_characters"]) == (
                1, 1, 10)
            assert ops["search"]["estimated_cost_usd"] == 0.0

            models = {m["model"]: m for m in await service.aggregate_by_model()}
            assert set(models) == {"gpt-4o", "unknown"}
            assert (models["gpt-4o"]["count"], models["gpt-4o"]["total_characters"]) == (3, 110)
            assert (models["unknown"]["count"], models["unknown"]["total_characters"]) == (1, 5)

            costs = {c["model"]: c for c in await service.aggregate_costs(group_by="model")}
            assert costs["gpt-4o"]["total_cost_usd"] == pytest.approx(0.006)
            assert costs["gpt-4o"]["operation_count"] == 3
            assert costs["gpt-4o"]["avg_cost_per_operation_usd"] == pytest.approx(0.002)
            assert costs["unknown"]["total_cost_usd"] == 0.0
            by_session = {c["session"]: c for c in await service.aggregate_costs(group_by="session")}
            assert by_session["s1"]["operation_count"] == 3
            with pytest.raises(ValueError, match="group_by"):
                await service.aggregate_costs(group_by="planet")

            stats = await service.get_summary_stats()
            assert (stats["total_events"], stats["total_sessions"], stats["total_operations"],
                    stats["total_errors"], stats["total_characters"]) == (4, 2, 2, 1, 115)
            assert stats["error_rate"] == pytest.approx(0.25) and stats["avg_duration_ms"] == pytest.approx(162.5)
            assert stats["total_cost_usd"] == pytest.approx(0.006)

            sessions = {s["session_id"]: s for s in await service.get_sessions()}
            s1 = sessions["s1"]
            assert (s1["event_count"], s1["operation_count"], s1["error_count"]) == (3, 2, 1)
            assert s1["total_duration_ms"] == pytest.approx(600.0)
            # end_time: when the last event ended (it started at 2 s and took 200 ms)
            assert s1["start_time"] == T0 and s1["end_time"] == T0 + timedelta(seconds=2.2)
            assert (sessions["s2"]["event_count"], sessions["s2"]["operation_count"]) == (1, 1)

            traces = {t["trace_id"]: t for t in await service.get_traces("s1")}
            assert (traces["t1"]["event_count"], traces["t1"]["span_count"], traces["t1"]["error_count"]) == (2, 2, 1)
            assert traces["t1"]["total_duration_ms"] == pytest.approx(400.0) and traces["t2"]["span_count"] == 1

            # newest first, offset from the newest, as the seed's ORDER BY timestamp DESC
            newest = await service.query_events(limit=2)
            assert [(e.session_id, e.duration_ms) for e in newest] == [("s2", 50.0), ("s1", 200.0)]
            assert [e.duration_ms for e in await service.query_events(limit=2, offset=2)] == [300.0, 100.0]
            assert await service.query_events(offset=10) == []
            assert [e.duration_ms for e in await service.query_events(session_id="s1", error_only=True)] == [300.0]
            assert [e.operation_name for e in await service.query_events(operation_type="tool")] == ["search"]
            assert [e.duration_ms for e in await service.query_events(operation_type="llm_call", limit=2,
                                                                      offset=1)] == [200.0, 100.0]

            details = await service.get_session_details("s1")
            assert details["session"]["event_count"] == 3 and len(details["traces"]) == 2
            assert [e["duration_ms"] for e in details["events"]] == [200.0, 300.0, 100.0]
            assert details["events"][1] == {"event_id": details["events"][1]["event_id"], "operation_name": "search",
                                            "operation_type": "tool",
                                            "timestamp": (T0 + timedelta(seconds=1)).isoformat(),
                                            "duration_ms": 300.0, "error": True, "error_type": None}
            assert await service.get_session_details("nope") == {"error": "Session not found"}
            health = await service.health_check()
            assert health == {"service_healthy": True, "backend_type": storage.backend, "backend_healthy": True}
        finally:
            await service.close()

    asyncio.run(run())


# -- exporters -----------------------------------------------------------------------------------

def test_prometheus_exporter_the_seeds_manual_way() -> None:
    from llmops_monitoring.exporters import PrometheusExporter

    exporter = PrometheusExporter({"enabled": True, "port": 0, "host": "127.0.0.1"})  # the seed's dict

    async def run() -> None:
        await exporter.initialize()
        assert exporter.exporter_type == "prometheus"
        exporter.record_event(event("answer", 250.0, model="gpt-4o", chars=12))
        exporter.record_event(event("answer", 50.0, model="gpt-4o", error=True))
        exporter.update_queue_metrics(7, 3)
        health = exporter.health_check()
        assert health["healthy"] is True and health["server_running"] is True and health["metrics_exported"] == 2
        assert health["endpoint"] == exporter.url and exporter.url is not None
        with urllib.request.urlopen(exporter.url, timeout=10) as resp:
            body = resp.read().decode()
        lines = body.splitlines()
        assert any(ln.startswith("llm_operations_total{") and 'operation_name="answer"' in ln and ln.endswith(" 2.0")
                   for ln in lines), body
        assert any(ln.startswith("llm_errors_total{") and ln.endswith(" 1.0") for ln in lines)
        assert any(ln.startswith("llm_text_characters_total{") and ln.endswith(" 12.0") for ln in lines)
        assert "llm_queue_size 7.0" in lines and "llm_buffer_size 3.0" in lines
        await exporter.shutdown()
        assert exporter.health_check()["server_running"] is False

    asyncio.run(run())


def test_datadog_exporter_the_seeds_manual_way() -> None:
    from llmops_monitoring.exporters import DatadogExporter

    agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    agent.bind(("127.0.0.1", 0))
    agent.settimeout(10)
    port = agent.getsockname()[1]
    exporter = DatadogExporter({"enabled": True, "use_statsd": True, "statsd_host": "127.0.0.1",
                                "statsd_port": port, "namespace": "llmops", "submission_interval": 3600})

    async def run() -> None:
        await exporter.initialize()
        exporter.record_event(event("answer", 250.0, model="gpt-4o", chars=12))
        exporter.record_event(event("answer", 150.0, model="gpt-4o"))
        health = exporter.health_check()
        assert health["use_statsd"] is True and health["namespace"] == "llmops" and health["cached_metrics"] >= 3
        assert health["metrics_exported"] == 2 and exporter.exporter_type == "datadog"
        await exporter.submit_metrics()
        assert exporter.health_check()["cached_metrics"] == 0
        data = agent.recv(65536).decode()
        lines = data.splitlines()
        assert any(ln.startswith("llmops.operations.count:2|c|#") and "operation_name:answer" in ln
                   and "model:gpt-4o" in ln for ln in lines), data
        assert any(ln.startswith("llmops.characters.total:12|c") for ln in lines), data
        assert sorted(ln.split("|")[0] for ln in lines if ln.startswith("llmops.operation.duration.ms")) == [
            "llmops.operation.duration.ms:150", "llmops.operation.duration.ms:250"], data
        await exporter.shutdown()

    try:
        asyncio.run(run())
    finally:
        agent.close()


def test_writer_health_check_includes_each_exporters_health(tmp_path: Path) -> None:
    """The seed's writer added ``health["prometheus"] = exporter.health_check()``."""
    import llamonitor
    from llmops_monitoring import MonitorConfig, MonitoringWriter
    from llmops_monitoring.schema.config import PrometheusConfig

    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"),
                                                 flush_interval_seconds=0.05), spill_dir=str(tmp_path / "spill"))
    config.extensions["prometheus"] = PrometheusConfig(enabled=True, port=0, host="127.0.0.1").model_dump()

    @llamonitor.monitor_llm(operation_name="answer")
    def answer() -> str:
        return "ok"

    async def run() -> None:
        writer = await MonitoringWriter.get_instance(config)
        answer()
        await llamonitor.flush_monitoring()
        health = await writer.health_check()
        prom = health["prometheus"]
        assert prom["healthy"] is True and prom["server_running"] is True and prom["metrics_exported"] == 1
        assert prom["endpoint"].startswith("http://127.0.0.1:") and "datadog" not in health
        await writer.stop(timeout=10)

    asyncio.run(run())


def test_detectors_expose_the_seeds_baselines_and_the_registry_its_exporters() -> None:
    import statistics

    from llmops_monitoring.anomaly.detector import ErrorRateDetector, IQRDetector, ZScoreDetector
    from llmops_monitoring.exporters.base import ExporterRegistry
    from llmops_monitoring.exporters.prometheus import PrometheusExporter

    values = [100.0 + (i % 5) * 2 for i in range(40)]
    z = ZScoreDetector()
    z.fit(history())
    assert z.baselines["summarize"]["duration_ms"] == {"mean": pytest.approx(104.0),
                                                       "stdev": pytest.approx(statistics.stdev(values))}
    iqr = IQRDetector(k=1.5)
    iqr.fit(history())
    q = iqr.baselines["summarize"]["duration_ms"]
    assert (q["q1"], q["q3"], q["iqr"]) == (102.0, 106.0, 4.0)
    # the IQR used for the bounds never drops below 10 % of the median (x 1.349): see anomaly.py
    assert q["upper_bound"] == pytest.approx(106.0 + 1.5 * 1.349 * 10.4)
    assert q["lower_bound"] == pytest.approx(102.0 - 1.5 * 1.349 * 10.4)
    err = ErrorRateDetector()
    err.fit(history() + [event("summarize", 100.0, error=True) for _ in range(10)])
    assert err.baseline_error_rates == {"summarize": pytest.approx(10 / 50)}
    assert ExporterRegistry.get("prometheus") is PrometheusExporter
    assert {"prometheus", "datadog"} <= set(ExporterRegistry.list_exporters())
