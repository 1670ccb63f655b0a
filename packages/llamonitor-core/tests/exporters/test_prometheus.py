"""Prometheus exporter: own registry, /metrics content, label bounds, and a real Prometheus server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import llamonitor
import prometheus_client
import pytest
from llamonitor import PrometheusConfig, monitor_llm, monitoring_agent
from llamonitor.exporters.prometheus import PrometheusExporter
from llamonitor.schema.events import MetricEvent
from llamonitor.testing import InMemoryBackend
from prometheus_client.parser import text_string_to_metric_families
from testkits.exporters import free_port, record_llm_call, samples, sink_named, total, wait_for


def prom_config(make_config: Any, tmp_path: Path, **prom: Any) -> llamonitor.MonitorConfig:
    cfg = make_config(tmp_path, storage={"backend": "memory"})
    cfg.extensions["prometheus"] = PrometheusConfig(**{"port": 0, **prom}).model_dump()
    return cfg


def test_metrics_endpoint_serves_seed_names_tokens_and_labels(make_config, tmp_path: Path,
                                                              memory_sink: InMemoryBackend) -> None:
    @monitor_llm("answer", model="gpt-4o")
    def answer(q: str) -> str:
        if q == "boom":
            raise ValueError(q)
        return q

    llamonitor.initialize_monitoring_sync(prom_config(make_config, tmp_path))
    exporter: PrometheusExporter = sink_named("prometheus")
    assert exporter.port and exporter.port != 8000
    with monitoring_agent("planner"):
        for q in ("a", "b", "boom"):
            try:
                answer(q)
            except ValueError:
                pass
        record_llm_call("chat", input_tokens=1000, output_tokens=500, cached=200, reasoning=50)
    assert llamonitor.flush_sync(10)
    assert len(memory_sink.events) == 4  # storage got everything too

    text = httpx.get(exporter.url or "", timeout=5).text
    values = samples(text)
    base = {"operation_name": "answer", "operation_type": "llm_call", "model": "gpt-4o", "agent": "planner"}
    assert total(values, "llm_operations_total", **base) == 3
    assert total(values, "llm_errors_total", error_type="ValueError", **base) == 1
    assert total(values, "llm_operation_duration_seconds_count", **base) == 3
    chat = {"operation_name": "chat", "operation_type": "chat", "agent": "planner"}
    assert total(values, "llm_tokens_total", token_type="input", **chat) == 1000
    assert total(values, "llm_tokens_total", token_type="output", **chat) == 500
    assert total(values, "llm_tokens_total", token_type="cached", **chat) == 200
    assert total(values, "llm_tokens_total", token_type="reasoning", **chat) == 50
    assert total(values, "llm_cost_usd_count", **chat) == 1
    assert total(values, "llm_cost_usd_sum", **chat) > 0
    for name in ("llm_queue_size", "llm_buffer_size", "llm_text_characters_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text
    # the global registry is untouched
    assert b"llm_operations_total" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)
    health = llamonitor.health()["sinks"]["prometheus"]
    assert health["exporter"]["events"] == 4 and health["exporter"]["serving"] == exporter.url


def test_text_characters_counted_when_measured(make_config, tmp_path: Path, memory_sink: InMemoryBackend) -> None:
    @monitor_llm("summarise", measure_text=True, measurement="capacity")
    def summarise(text: str) -> str:
        return text[:5]

    llamonitor.initialize_monitoring_sync(prom_config(make_config, tmp_path))
    summarise("hello world")
    assert llamonitor.flush_sync(10)
    values = samples(sink_named("prometheus").generate_latest().decode())
    assert total(values, "llm_text_characters_total", operation_name="summarise") == len("hello world") + 5


def test_two_exporters_have_separate_registries_and_ports() -> None:
    async def main() -> None:
        a, b = PrometheusExporter(PrometheusConfig(port=0)), PrometheusExporter(PrometheusConfig(port=0))
        await a.initialize()
        await b.initialize()
        try:
            assert a.port != b.port and a.registry is not b.registry
            now = time.time_ns()
            event = MetricEvent(event_id="e1", session_id="s", trace_id="t", span_id="s1", operation_name="x",
                                start_time_ns=now, end_time_ns=now + 1000, duration_ms=0.001)
            await a.write_batch([event])
            assert "llm_operations_total" in httpx.get(a.url or "", timeout=5).text
            values_a = samples(httpx.get(a.url or "", timeout=5).text)
            values_b = samples(httpx.get(b.url or "", timeout=5).text)
            assert total(values_a, "llm_operations_total") == 1
            assert total(values_b, "llm_operations_total") == 0
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_label_values_beyond_the_bound_collapse_to_other() -> None:
    async def main() -> None:
        exp = PrometheusExporter(PrometheusConfig(port=0, max_label_values=2, namespace="app"))
        now = time.time_ns()
        events = [MetricEvent(event_id=f"e{i}", session_id="s", trace_id="t", span_id=f"s{i}",
                              operation_name=f"op{i}", start_time_ns=now, end_time_ns=now, duration_ms=1.0)
                  for i in range(5)]
        await exp.write_batch(events)
        values = samples(exp.generate_latest().decode())
        assert total(values, "app_llm_operations_total", operation_name="op0") == 1
        assert total(values, "app_llm_operations_total", operation_name="other") == 3
        assert total(values, "app_llm_label_values_collapsed_total", label="operation_name") == 3
        assert exp.exporter_stats()["label_values_collapsed"] == {"operation_name": 3}

    asyncio.run(main())


def test_stale_events_are_not_counted_again() -> None:
    async def main() -> None:
        exp = PrometheusExporter(PrometheusConfig(port=0))
        old = time.time_ns() - 3600 * 10**9
        event = MetricEvent(event_id="old", session_id="s", trace_id="t", span_id="s", operation_name="x",
                            start_time_ns=old, end_time_ns=old, duration_ms=1.0)
        await exp.write_batch([event])
        values = samples(exp.generate_latest().decode())
        assert total(values, "llm_operations_total") == 0
        assert total(values, "llm_exporter_events_skipped_total") == 1

    asyncio.run(main())


def test_bind_all_interfaces_when_asked_and_port_conflict_is_counted(make_config, tmp_path: Path,
                                                                     memory_sink: InMemoryBackend) -> None:
    llamonitor.initialize_monitoring_sync(prom_config(make_config, tmp_path, host="0.0.0.0"))
    exporter: PrometheusExporter = sink_named("prometheus")
    assert exporter.port
    assert httpx.get(f"http://127.0.0.1:{exporter.port}/metrics", timeout=5).status_code == 200

    async def conflict() -> None:
        other = PrometheusExporter(PrometheusConfig(port=exporter.port or 0, host="0.0.0.0"))
        await other.initialize()  # logged and counted, never raised
        assert other.port is None and other.exporter_stats()["errors_bind"] == 1
        await other.close()

    asyncio.run(conflict())


# -- a real Prometheus server scraping the exporter -------------------------------------------

PROMETHEUS = shutil.which("prometheus")


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _value(base: str, expr: str) -> float | None:
    result = _query(base, expr)
    return float(result[0]["value"][1]) if result else None


@pytest.mark.skipif(PROMETHEUS is None, reason="the `prometheus` binary is not installed; "
                    "`bash .ci/services/prometheus.sh` installs Debian's package (CI does)")
def test_real_prometheus_scrapes_counters_and_latency_quantiles(make_config, tmp_path: Path,
                                                                 memory_sink: InMemoryBackend) -> None:
    cfg = prom_config(make_config, tmp_path, duration_buckets=[0.05, 0.1, 0.2, 0.4, 0.8, 1.6])
    llamonitor.initialize_monitoring_sync(cfg)
    exporter: PrometheusExporter = sink_named("prometheus")

    @monitor_llm("generate", model="gpt-4o")
    def generate(delay: float, fail: bool = False) -> str:
        time.sleep(delay)
        if fail:
            raise TimeoutError("slow upstream")
        return "ok"

    for _ in range(6):
        generate(0.13)  # every latency lands in the (0.1, 0.2] bucket
    for _ in range(2):
        with pytest.raises(TimeoutError):
            generate(0.0, fail=True)
    record_llm_call("chat", input_tokens=1200, output_tokens=300)
    assert llamonitor.flush_sync(10)

    data = tmp_path / "prom-data"
    port = free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: llamonitor\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{exporter.port}']\n", encoding="utf-8")
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen([PROMETHEUS or "prometheus", f"--config.file={conf}", f"--storage.tsdb.path={data}",
                             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def scraped() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()[-2000:]}")
            try:
                return _value(base, 'sum(llm_operations_total{operation_name="generate"})') == 8
            except httpx.HTTPError:
                return False

        wait_for(scraped, timeout=60, interval=0.5)
        assert _value(base, 'up{job="llamonitor"}') == 1
        assert _value(base, 'sum(llm_errors_total{operation_name="generate",error_type="TimeoutError"})') == 2
        assert _value(base, 'sum(llm_tokens_total{operation_name="chat",token_type="input"})') == 1200
        assert _value(base, 'sum(llm_tokens_total{operation_name="chat",token_type="output"})') == 300
        # 6 of 8 latencies are in (0.1, 0.2], 2 in (0, 0.05]: the median lies in (0.1, 0.2]
        p50 = _value(base, 'histogram_quantile(0.5, sum by (le) '
                           '(llm_operation_duration_seconds_bucket{operation_name="generate"}))')
        assert p50 is not None and 0.1 < p50 <= 0.2, p50
        p10 = _value(base, 'histogram_quantile(0.1, sum by (le) '
                           '(llm_operation_duration_seconds_bucket{operation_name="generate"}))')
        assert p10 is not None and 0 < p10 <= 0.05, p10
        assert _value(base, "max(llm_queue_size)") == 0
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_grafana_dashboard_and_scrape_config_match_the_metric_names() -> None:
    import json
    import re

    docs = Path(__file__).resolve().parents[4] / "docs" / "grafana"
    dashboard = json.loads((docs / "llamonitor-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"]]
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs for m in re.findall(r"\bllm_[a-z_]+", e)}

    async def served() -> set[str]:
        exp = PrometheusExporter(PrometheusConfig(port=0))
        now = time.time_ns()
        from llamonitor.schema.events import CostInfo, TextMetrics, TokenUsage

        await exp.write_batch([MetricEvent(
            event_id="e", session_id="s", trace_id="t", span_id="s", operation_name="x", start_time_ns=now,
            end_time_ns=now, duration_ms=1.0, error=True, error_type="E", text_metrics=TextMetrics(char_count=3),
            usage=TokenUsage(input_tokens=1, output_tokens=1), cost=CostInfo(total_cost_usd=0.1))])
        return {f.name for f in text_string_to_metric_families(exp.generate_latest().decode())}

    names = asyncio.run(served())
    missing = {u for u in used if u not in names and u.removesuffix("_total") not in names}
    assert used and not missing, missing
    assert "localhost:8000" in (docs / "prometheus.yml").read_text(encoding="utf-8")
