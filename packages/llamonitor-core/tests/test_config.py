"""Configuration: seed constructors, environment variables, precise errors."""

from __future__ import annotations

import pytest
from llamonitor import MonitorConfig, PrometheusConfig, StorageConfig
from pydantic import ValidationError


def test_local_dev_and_production_presets() -> None:
    dev = MonitorConfig.for_local_dev()
    assert (dev.storage.backend, dev.storage.output_dir) == ("parquet", "./dev_monitoring_data")
    prod = MonitorConfig.for_production("postgresql://u:p@db:5432/m")
    assert prod.storage.backend == "postgres" and prod.storage.connection_string == "postgresql://u:p@db:5432/m"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "mongo"}, "storage.backend must be one of 'clickhouse', 'mysql', 'parquet', 'postgres', "
                               "'postgresql'; got 'mongo'"),
        ({"batch_size": 0}, "batch_size"),
        ({"flush_interval_seconds": -1}, "flush_interval_seconds"),
        ({"partition_by": "hour"}, "partition_by"),
        ({"table_name": "events; DROP TABLE x"}, "identifier must start with a letter"),
        ({"backend": "postgres"}, "storage.connection_string is required for backend 'postgres'"),
        ({"batch_size": 100, "max_batch_size": 10}, "max_batch_size must be >= storage.batch_size"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_storage_values_name_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        StorageConfig(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overflow_policy": "drop_oldest"}, "overflow_policy"),
        ({"max_queue_size": 0}, "max_queue_size"),
        ({"measurement": "tokens"}, "measurement.mode must be one of 'capacity', 'token', 'hybrid', 'auto'"),
        ({"max_retries": 0}, "max_retries"),
    ],
)
def test_bad_monitor_values_name_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        MonitorConfig(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
    if "overflow_policy" in kwargs:
        assert "'block', 'drop_newest' or 'spill'" in str(info.value)


def test_from_env_reads_llmops_and_llamonitor_prefixes() -> None:
    cfg = MonitorConfig.from_env({"LLMOPS_BACKEND": "parquet", "LLMOPS_OUTPUT_DIR": "/tmp/x",
                                  "LLMOPS_BATCH_SIZE": "250", "LLAMONITOR_FLUSH_INTERVAL_SECONDS": "2.5",
                                  "LLMOPS_OVERFLOW_POLICY": "spill", "LLMOPS_MEASUREMENT": "hybrid",
                                  "LLMOPS_CAPTURE_CONTENT": "yes"})
    assert cfg.storage.output_dir == "/tmp/x" and cfg.storage.batch_size == 250
    assert cfg.storage.flush_interval_seconds == 2.5 and cfg.overflow_policy == "spill"
    assert cfg.measurement.mode == "hybrid" and cfg.capture_content is True
    assert MonitorConfig.from_env({}).storage.backend == "parquet"


@pytest.mark.parametrize(("env", "message"), [
    ({"LLMOPS_BATCH_SIZE": "lots"}, "LLMOPS_BATCH_SIZE must be an integer; got 'lots'"),
    ({"LLMOPS_FLUSH_INTERVAL_SECONDS": "soon"}, "LLMOPS_FLUSH_INTERVAL_SECONDS must be a number; got 'soon'"),
    ({"LLMOPS_CAPTURE_CONTENT": "maybe"}, "LLMOPS_CAPTURE_CONTENT must be true or false; got 'maybe'"),
    ({"LLMOPS_BACKEND": "oracle"}, "storage.backend must be one of"),
])
def test_from_env_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as info:
        MonitorConfig.from_env(env)
    assert message in str(info.value)


def test_extensions_accept_model_dump_as_in_the_seed() -> None:
    cfg = MonitorConfig.for_local_dev()
    cfg.extensions["prometheus"] = PrometheusConfig(enabled=True, port=8000, host="0.0.0.0").model_dump()
    assert cfg.extensions["prometheus"]["port"] == 8000


def test_assignment_is_validated() -> None:
    cfg = MonitorConfig()
    with pytest.raises(ValidationError, match="max_queue_size"):
        cfg.max_queue_size = -5


def test_api_and_websocket_extensions_are_not_reported_as_unknown(caplog: pytest.LogCaptureFixture) -> None:
    from llamonitor import WebSocketConfig
    from llamonitor.exporters import create_exporters

    cfg = MonitorConfig.for_local_dev()
    cfg.extensions["websocket"] = WebSocketConfig(enabled=True).model_dump()
    cfg.extensions["mystery"] = {"enabled": True}
    assert create_exporters(cfg) == []
    assert "'mystery'" in caplog.text and "'websocket'" not in caplog.text
