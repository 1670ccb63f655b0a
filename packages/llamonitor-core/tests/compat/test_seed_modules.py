"""Every module path and public name of the seed project imports under ``llmops_monitoring``.

:data:`SEED_MODULES` was derived from the seed's source (``guybass/LLMOps_monitoring_async-``):
each ``llmops_monitoring`` module it contains or imports, with the public names of its
``__all__`` (packages) or the names its code, examples and README import from it.
"""

from __future__ import annotations

import importlib

import llamonitor
import pytest

#: seed module path -> public names imported from it
SEED_MODULES: dict[str, tuple[str, ...]] = {
    "llmops_monitoring": ("MonitorConfig", "initialize_monitoring", "monitor_llm", "MetricEvent",
                          "MonitoringWriter"),
    "llmops_monitoring.schema": (),
    "llmops_monitoring.schema.config": ("StorageConfig", "PrometheusConfig", "WebSocketConfig", "DatadogConfig",
                                        "MonitorConfig"),
    "llmops_monitoring.schema.events": ("MetricEvent", "TextMetrics", "ImageMetrics"),
    "llmops_monitoring.instrumentation": (),
    "llmops_monitoring.instrumentation.base": ("MetricCollector", "CollectorRegistry"),
    "llmops_monitoring.instrumentation.context": ("monitoring_session", "monitoring_trace"),
    "llmops_monitoring.instrumentation.decorators": ("monitor_llm",),
    "llmops_monitoring.instrumentation.collectors": ("TextCollector", "ImageCollector", "CostCollector"),
    "llmops_monitoring.instrumentation.collectors.text": ("TextCollector",),
    "llmops_monitoring.instrumentation.collectors.image": ("ImageCollector",),
    "llmops_monitoring.instrumentation.collectors.cost": ("CostCollector",),
    "llmops_monitoring.measurement": ("MeasurementResult", "MeasurementMetadata", "measure_text"),
    "llmops_monitoring.measurement.base": ("MeasurementResult", "MeasurementMetadata"),
    "llmops_monitoring.measurement.resolver": ("measure_text",),
    "llmops_monitoring.measurement.strategies": (),
    "llmops_monitoring.measurement.strategies.capacity": (),
    "llmops_monitoring.measurement.strategies.token": (),
    "llmops_monitoring.measurement.strategies.hybrid": (),
    "llmops_monitoring.transport": ("StorageBackend", "MonitoringWriter"),
    "llmops_monitoring.transport.writer": ("MonitoringWriter", "initialize_monitoring"),
    "llmops_monitoring.transport.backends": (),
    "llmops_monitoring.transport.backends.base": ("StorageBackend",),
    "llmops_monitoring.transport.backends.parquet": ("ParquetBackend",),
    "llmops_monitoring.transport.backends.postgres": ("PostgresBackend",),
    "llmops_monitoring.transport.backends.mysql": ("MySQLBackend",),
    "llmops_monitoring.transport.backends.clickhouse": ("ClickHouseBackend",),
    "llmops_monitoring.transport.backends.query_base": ("QueryBackend", "QueryFilter"),
    "llmops_monitoring.transport.backends.parquet_query": ("ParquetQueryBackend",),
    "llmops_monitoring.transport.backends.postgres_query": (),
    "llmops_monitoring.transport.backends.mysql_query": (),
    "llmops_monitoring.transport.backends.clickhouse_query": (),
    "llmops_monitoring.transport.backends.postgres_agent_storage": (),
    "llmops_monitoring.aggregation": ("AggregationService", "create_aggregation_service", "QueryFilter",
                                      "QueryBackend"),
    "llmops_monitoring.aggregation.service": ("AggregationService", "create_aggregation_service"),
    "llmops_monitoring.api": ("create_api_server", "run_api_server"),
    "llmops_monitoring.api.server": ("create_api_server", "run_api_server"),
    "llmops_monitoring.api.models": (),
    "llmops_monitoring.api.graphql_schema": (),
    "llmops_monitoring.api.graphql_resolvers": (),
    "llmops_monitoring.streaming": ("EventBroadcaster",),
    "llmops_monitoring.streaming.broadcaster": ("EventBroadcaster",),
    "llmops_monitoring.exporters": (),
    "llmops_monitoring.exporters.base": ("MetricsExporter", "ExporterRegistry"),
    "llmops_monitoring.exporters.prometheus": ("PrometheusExporter",),
    "llmops_monitoring.exporters.datadog": ("DatadogExporter",),
    "llmops_monitoring.anomaly": ("AnomalyDetectionService", "AnomalyResult"),
    "llmops_monitoring.anomaly.detector": ("AnomalyResult",),
    "llmops_monitoring.anomaly.service": ("AnomalyDetectionService",),
    "llmops_monitoring.agent": ("AgentDetector", "HandoffAnalyzer", "ContextDriftDetector", "DriftAnalysis",
                                "CoordinationGraphBuilder", "BottleneckDetector", "CoalitionAnalyzer",
                                "AgentOperation", "CoordinationGraph", "HandoffQuality", "Coalition"),
    "llmops_monitoring.agent.base": ("Agent", "AgentOperation", "AgentHandoff", "CoordinationGraph",
                                     "HandoffQuality", "BottleneckInfo", "Coalition"),
    "llmops_monitoring.agent.detector": ("AgentDetector",),
    "llmops_monitoring.agent.handoff": ("HandoffAnalyzer",),
    "llmops_monitoring.agent.context_drift": ("ContextDriftDetector", "DriftAnalysis"),
    "llmops_monitoring.agent.graph": ("CoordinationGraphBuilder",),
    "llmops_monitoring.agent.bottleneck": ("BottleneckDetector",),
    "llmops_monitoring.agent.analyzer": ("CoalitionAnalyzer",),
    "llmops_monitoring.agent.service": (),
    "llmops_monitoring.utils": (),
    "llmops_monitoring.utils.logging_config": ("get_logger", "configure_logging", "disable_external_loggers"),
}

#: seed modules llamonitor does not provide: importing them raises an ImportError saying so
NOT_PROVIDED: tuple[str, ...] = (
    "llmops_monitoring.topology", "llmops_monitoring.topology.models", "llmops_monitoring.topology.parser",
    "llmops_monitoring.topology.graph", "llmops_monitoring.topology.visualizer",
    "llmops_monitoring.topology.correlator", "llmops_monitoring.transport.backends.postgres_topology_storage",
)


@pytest.mark.parametrize("path", sorted(SEED_MODULES))
def test_seed_module_and_names_import(path: str) -> None:
    module = importlib.import_module(path)
    missing = [name for name in SEED_MODULES[path] if not hasattr(module, name)]
    assert not missing, f"{path} lacks {missing}"


@pytest.mark.parametrize("path", NOT_PROVIDED)
def test_unprovided_seed_modules_say_so(path: str) -> None:
    with pytest.raises(ImportError, match=r"not provided by llamonitor; see docs/seed-compatibility\.md"):
        importlib.import_module(path)


def test_seed_paths_share_llamonitor_objects() -> None:
    from llamonitor.backends.base import StorageBackend
    from llamonitor.transport.worker import MonitoringWriter
    from llmops_monitoring import MonitoringWriter as SeedWriter
    from llmops_monitoring.transport import StorageBackend as SeedBackend
    from llmops_monitoring.transport.backends.base import StorageBackend as SeedBackend2

    assert SeedWriter is MonitoringWriter
    assert SeedBackend is SeedBackend2 is StorageBackend
    assert importlib.import_module("llmops_monitoring.transport.backends.parquet") is importlib.import_module(
        "llamonitor.backends.parquet")
    # llamonitor's own transport modules stay reachable under the alias
    assert importlib.import_module("llmops_monitoring.transport.recorder") is importlib.import_module(
        "llamonitor.transport.recorder")
    assert importlib.import_module("llmops_monitoring.anomaly").AnomalyDetectionService is (
        llamonitor.analytics.anomaly.AnomalyDetectionService)


def test_get_logger_prints_once_per_logger(capsys: pytest.CaptureFixture[str]) -> None:
    from llmops_monitoring.utils.logging_config import get_logger

    log = get_logger("seed-compat-test")
    assert get_logger("seed-compat-test") is log and len(log.handlers) == 1
    log.info("hello from the seed")
    assert "hello from the seed" in capsys.readouterr().out
