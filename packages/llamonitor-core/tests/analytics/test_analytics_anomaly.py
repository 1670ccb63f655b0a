"""Anomaly detection: severities from known deviations, error bursts, robustness, streaming."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
from typing import Any

import pytest
from llamonitor import MonitorConfig, StorageConfig, flush_sync, initialize_monitoring_sync, monitor_llm
from llamonitor.analytics.anomaly import (
    AnomalyDetectionService,
    AnomalyResult,
    AnomalySeverity,
    score_from_ratio,
)
from llamonitor.schema.events import CostInfo, MetricEvent, TextMetrics, TokenUsage

T0 = 1_767_225_600_000_000_000


def ev(i: int, duration: float, *, error: bool = False, op: str = "generate_summary", tokens: int | None = None,
       chars: int | None = None, cost: float | None = None) -> MetricEvent:
    start = T0 + i * 1_000_000_000
    return MetricEvent(
        event_id=f"e{i}", session_id="s", trace_id=f"t{i}", span_id=f"{i:016x}", operation_name=op,
        start_time_ns=start, end_time_ns=start + int(duration * 1e6), duration_ms=duration, error=error,
        usage=TokenUsage(total_tokens=tokens) if tokens is not None else None,
        text_metrics=TextMetrics(char_count=chars) if chars is not None else None,
        cost=CostInfo(total_cost_usd=cost) if cost is not None else None)


def gaussian(n: int, start: int, seed: int = 7, mean: float = 120.0, sd: float = 15.0) -> list[MetricEvent]:
    rng = random.Random(seed)
    return [ev(start + i, max(1.0, rng.gauss(mean, sd)), tokens=int(rng.gauss(400, 40)),
               chars=int(rng.gauss(1600, 150)), cost=abs(rng.gauss(0.002, 0.0002))) for i in range(n)]


def test_clean_baseline_raises_no_alert() -> None:
    alerts: list[AnomalyResult] = []
    service = AnomalyDetectionService(alert_callback=alerts.append)
    asyncio.run(service.train(gaussian(400, 0)))
    results = asyncio.run(service.detect(gaussian(300, 1000, seed=8)))
    assert alerts == [] and list(service.alerts) == []
    assert all(r.severity in (AnomalySeverity.LOW, AnomalySeverity.MEDIUM) for r in results)
    assert len(results) < 0.03 * 300 * 4  # IQR fences flag well under 1 % of normal values per metric


@pytest.mark.parametrize("z,severity", [(2.9, None), (4.0, AnomalySeverity.LOW), (4.5, AnomalySeverity.MEDIUM),
                                        (6.0, AnomalySeverity.HIGH), (12.0, AnomalySeverity.CRITICAL)])
def test_latency_spike_severity_follows_the_z_score(z: float, severity: AnomalySeverity | None) -> None:
    base = [ev(i, 100.0 if i % 2 else 140.0) for i in range(300)]  # mean 120
    sd = statistics.stdev(e.duration_ms for e in base)
    alerts: list[AnomalyResult] = []
    service = AnomalyDetectionService(alert_callback=alerts.append, methods=["z_score"], metrics=["duration_ms"])
    asyncio.run(service.train(base))
    results = asyncio.run(service.detect([ev(5000, 120 + z * sd)]))
    if severity is None:
        assert results == []
        return
    (r,) = results
    assert r.method == "z_score" and r.metric_name == "duration_ms" and r.operation_name == "generate_summary"
    assert r.deviation == pytest.approx(z)
    assert r.anomaly_score == pytest.approx(1 - (3 / z) ** 2)
    assert r.severity is severity
    assert r.expected == pytest.approx(120) and r.spread == pytest.approx(sd)
    assert (alerts == [r]) is (severity in (AnomalySeverity.HIGH, AnomalySeverity.CRITICAL))
    assert "Z-score" in r.describe() and r.to_dict()["severity"] == severity.value


def test_injected_spike_among_normal_traffic_is_critical_on_both_methods() -> None:
    service = AnomalyDetectionService()
    asyncio.run(service.train(gaussian(400, 0)))
    batch = gaussian(100, 1000, seed=9)
    batch.insert(50, ev(7777, 2500.0, tokens=400, chars=1600, cost=0.002))
    results = [r for r in asyncio.run(service.detect(batch)) if r.is_alert]
    (spike,) = results
    assert spike.event_id == "e7777" and spike.metric_name == "duration_ms"
    assert spike.severity is AnomalySeverity.CRITICAL
    assert set(spike.details["methods"]) == {"z_score", "iqr"}


def test_token_and_cost_metrics_are_checked_per_operation() -> None:
    service = AnomalyDetectionService()
    train = gaussian(200, 0) + [ev(500 + i, 10.0 + i % 3, op="embed", tokens=20, cost=0.00001) for i in range(100)]
    asyncio.run(service.train(train))
    results = asyncio.run(service.detect([ev(9000, 120, tokens=4000, chars=1600, cost=0.002),
                                          ev(9001, 11, op="embed", tokens=20, cost=0.01)]))
    got = {(r.operation_name, r.metric_name, r.severity) for r in results}
    assert ("generate_summary", "total_tokens", AnomalySeverity.CRITICAL) in got
    assert ("embed", "total_cost_usd", AnomalySeverity.CRITICAL) in got
    assert not any(m == "duration_ms" for _, m, _ in got)


@pytest.mark.parametrize("every,severity,rate", [(5, AnomalySeverity.HIGH, 0.2), (1, AnomalySeverity.CRITICAL, 1.0)])
def test_error_burst_is_detected_at_the_right_severity(every: int, severity: AnomalySeverity, rate: float) -> None:
    train = [ev(i, 120, error=(i % 50 == 0)) for i in range(500)]  # 2 % errors
    alerts: list[AnomalyResult] = []
    service = AnomalyDetectionService(alert_callback=alerts.append)
    asyncio.run(service.train(train))
    batch = [ev(1000 + i, 120) for i in range(100)]
    batch += [ev(2000 + i, 120, error=(i % every == 0)) for i in range(50)]
    batch += [ev(3000 + i, 120) for i in range(100)]
    results = [r for r in asyncio.run(service.detect(batch)) if r.method == "error_rate"]
    (r,) = results
    assert r.value == pytest.approx(rate) and r.expected == pytest.approx(0.02)
    assert r.spread == pytest.approx(0.1)  # limit: max(10 %, 2 x 2 %)
    assert r.anomaly_score == pytest.approx(score_from_ratio(rate / 0.1))
    assert r.severity is severity and alerts == [r]


def test_error_rate_needs_a_minimum_sample() -> None:
    service = AnomalyDetectionService(min_error_samples=20)
    asyncio.run(service.train([ev(i, 120) for i in range(100)]))
    few = [ev(1000 + i, 120, error=(i % 2 == 0)) for i in range(12)]
    assert [r for r in asyncio.run(service.detect(few)) if r.method == "error_rate"] == []


def test_constant_baseline_never_divides_by_zero_nor_alerts_on_identical_values() -> None:
    service = AnomalyDetectionService()
    asyncio.run(service.train([ev(i, 100.0, tokens=50, cost=0.0) for i in range(50)]))
    base = service.get_baseline("generate_summary", "duration_ms")
    assert base is not None and base.stdev == 0 and base.iqr == 0
    assert asyncio.run(service.detect([ev(900 + i, 100.0, tokens=50, cost=0.0) for i in range(20)])) == []
    assert asyncio.run(service.detect([ev(950, 104.0, tokens=51, cost=0.0)])) == []  # within tolerance
    results = asyncio.run(service.detect([ev(999, 150.0, tokens=50, cost=0.0), ev(1000, 10_000.0)]))
    assert {r.event_id for r in results} == {"e999", "e1000"}
    assert all(math.isfinite(r.anomaly_score) and 0 <= r.anomaly_score <= 1 for r in results)
    assert max(results, key=lambda r: r.anomaly_score).event_id == "e1000"


def test_small_baselines_are_skipped_or_flagged() -> None:
    service = AnomalyDetectionService(min_baseline_size=10, reliable_baseline_size=30)
    asyncio.run(service.train([ev(i, 100.0 + i, op="tiny") for i in range(5)]
                              + [ev(100 + i, 100.0 + i % 5, op="small") for i in range(12)]))
    results = asyncio.run(service.detect([ev(900, 5000.0, op="tiny"), ev(901, 5000.0, op="small"),
                                          ev(902, 5000.0, op="never_trained")]))
    (r,) = results
    assert r.operation_name == "small" and r.details["small_baseline"] is True and r.baseline_size == 12
    assert service.skipped[("tiny", "duration_ms")] == 1
    assert service.skipped[("never_trained", "duration_ms")] == 1


def test_retrain_replaces_baselines_and_thresholds_are_configurable() -> None:
    service = AnomalyDetectionService(z_threshold=10, methods=["z_score"])
    asyncio.run(service.train([ev(i, 100.0 if i % 2 else 140.0) for i in range(100)]))
    assert asyncio.run(service.detect([ev(900, 240.0)])) == []  # z = 6 < 10
    asyncio.run(service.retrain([ev(i, 1000.0 if i % 2 else 1040.0, op="other") for i in range(100)]))
    assert service.get_baseline("generate_summary", "duration_ms") is None
    with pytest.raises(ValueError):
        AnomalyDetectionService(methods=["magic"])


def test_async_callback_and_failing_callback() -> None:
    seen: list[str] = []

    async def handler(a: AnomalyResult) -> None:
        await asyncio.sleep(0)
        seen.append(a.event_id or "")

    def broken(a: AnomalyResult) -> None:
        raise RuntimeError("pager down")

    base = [ev(i, 100.0 if i % 2 else 140.0) for i in range(100)]
    for cb in (handler, broken):
        service = AnomalyDetectionService(alert_callback=cb)
        asyncio.run(service.train(base))
        assert len(asyncio.run(service.detect([ev(900, 5000.0)]))) == 1
        assert len(service.detect_sync([ev(901, 5000.0)])) == 1
    assert seen == ["e900", "e901"]


def test_streaming_mode_alerts_within_the_batch(memory_sink: Any) -> None:
    alerts: list[AnomalyResult] = []
    service = AnomalyDetectionService(alert_callback=alerts.append, metrics=["duration_ms"])
    writer = initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="memory",
                                                                            flush_interval_seconds=0.05)))

    @monitor_llm("stream_op")
    def call(slow: bool) -> str:
        time.sleep(0.3 if slow else 0.002)
        return "ok"

    for _ in range(40):  # the baseline is real recorded traffic
        call(False)
    assert flush_sync(10)
    asyncio.run(service.train(memory_sink.events))
    assert service.attach() is writer
    for _ in range(5):
        call(False)
    assert flush_sync(10)
    # (a scheduler hiccup on a busy machine may alert on a fast call; only the slow one is asserted)
    assert [a for a in alerts if a.value >= 300] == []
    call(True)
    assert flush_sync(10)  # the alert has fired by the time the batch is written
    (alert,) = [a for a in alerts if a.value >= 300]
    assert alert.operation_name == "stream_op" and alert.severity is AnomalySeverity.CRITICAL
    service.detach()
    call(True)
    assert flush_sync(10)
    assert len([a for a in alerts if a.value >= 300]) == 1


def test_streaming_error_burst_alerts_once_per_burst() -> None:
    alerts: list[AnomalyResult] = []
    service = AnomalyDetectionService(alert_callback=alerts.append)
    asyncio.run(service.train([ev(i, 120) for i in range(200)]))
    for b in range(4):  # burst spread over batches: one alert (severity does not rise after batch 1)
        service.process_batch([ev(1000 + b * 25 + i, 120, error=True) for i in range(25)])
    assert [a.method for a in alerts] == ["error_rate"]
    for b in range(4):  # recovery, then a new burst alerts again
        service.process_batch([ev(2000 + b * 25 + i, 120) for i in range(25)])
    service.process_batch([ev(3000 + i, 120, error=True) for i in range(50)])
    assert [a.method for a in alerts] == ["error_rate", "error_rate"]
