"""OTLP exporter: standard ``OTEL_*`` variables and bounded, jittered retries on 429 / 503 / lost connections."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import OTLPConfig
from llamonitor.exporters.otlp import create_otlp_exporter, otlp_settings_from_env
from llamonitor.testing import InMemoryBackend
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from testkits.exporters import Receiver, free_port, record_llm_call, sink_named, wait_for


def _service_names(receiver: Receiver) -> list[Any]:
    names = []
    for _, headers, body in receiver.requests:
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
            names.append({kv.key: kv.value.string_value for kv in rs.resource.attributes})
    return names


def test_otel_variables_fill_fields_left_at_their_defaults(make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           memory_sink: InMemoryBackend, receiver: Receiver) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url + "/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme%20corp, authorization=Bearer%20t0k")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "support-bot")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=ml%2Fops")
    cfg = make_config(tmp_path, storage={"backend": "memory"})
    cfg.extensions["otlp"] = OTLPConfig(resource_attributes={"team": "explicit"}).model_dump()
    llamonitor.initialize_monitoring_sync(cfg)
    try:
        record_llm_call()
        assert llamonitor.flush_sync(10)
        wait_for(lambda: receiver.requests)
        path, headers, _ = receiver.requests[0]
        assert path == "/v1/traces"  # base endpoint + the signal path, one slash
        assert headers["x-tenant"] == "acme corp" and headers["authorization"] == "Bearer t0k"
        assert headers["content-encoding"] == "gzip"
        resource = _service_names(receiver)[0]
        assert resource["service.name"] == "support-bot"
        assert resource["deployment.environment"] == "prod"
        assert resource["team"] == "explicit"  # the config wins over the variable, key by key
    finally:
        llamonitor.shutdown_sync(10)


def test_explicit_settings_win_and_traces_endpoint_is_used_as_is() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/custom",
           "OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "a=1",
           "OTEL_EXPORTER_OTLP_HEADERS": "a=0,b=2"}
    filled = otlp_settings_from_env(OTLPConfig(), env)
    assert filled.endpoint == "http://t:1/custom"
    assert filled.timeout_seconds == 2.5
    assert filled.headers == {"a": "1", "b": "2"}  # the per-signal variable wins over the general one
    explicit = otlp_settings_from_env(OTLPConfig(endpoint="http://mine:9/v1/traces", timeout_seconds=7), env)
    assert explicit.endpoint == "http://mine:9/v1/traces" and explicit.timeout_seconds == 7


@pytest.mark.parametrize(("name", "value", "message"), [
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon", "OTEL_EXPORTER_OTLP_TIMEOUT"),
    ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli", "OTEL_EXPORTER_OTLP_COMPRESSION"),
    ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign", "OTEL_EXPORTER_OTLP_HEADERS"),
])
def test_a_malformed_variable_is_named_in_the_error(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        otlp_settings_from_env(OTLPConfig(), {name: value})


def test_service_name_from_the_monitor_config_wins_over_otel_service_name(make_config, tmp_path: Path,
                                                                         memory_sink: InMemoryBackend) -> None:
    cfg = make_config(tmp_path, storage={"backend": "memory"})
    cfg.service_name = "from-config"
    exporter = create_otlp_exporter(cfg, OTLPConfig().model_dump(), environ={"OTEL_SERVICE_NAME": "from-env"})
    assert exporter.service_name == "from-config"


def test_429_and_503_are_retried_with_backoff_then_delivered(make_config, tmp_path: Path,
                                                              memory_sink: InMemoryBackend) -> None:
    receiver = Receiver(statuses=[503, 429])  # then 200
    try:
        cfg = make_config(tmp_path, storage={"backend": "memory"})
        cfg.extensions["otlp"] = OTLPConfig(endpoint=receiver.url + "/v1/traces", retry_backoff_seconds=0.01,
                                            max_export_attempts=5).model_dump()
        llamonitor.initialize_monitoring_sync(cfg)
        record_llm_call()
        assert llamonitor.flush_sync(10)
        exporter = sink_named("otlp")
        wait_for(lambda: exporter.exporter_stats().get("spans_sent") == 1)
        stats = exporter.exporter_stats()
        assert stats["retries"] == 2 and stats.get("spans_dropped", 0) == 0
        assert len(receiver.requests) == 3
    finally:
        llamonitor.shutdown_sync(10)
        receiver.stop()


def test_retries_are_bounded_and_non_retryable_statuses_are_not_retried(make_config, tmp_path: Path,
                                                                        memory_sink: InMemoryBackend) -> None:
    receiver = Receiver(status=503)
    try:
        cfg = make_config(tmp_path, storage={"backend": "memory"})
        cfg.extensions["otlp"] = OTLPConfig(endpoint=receiver.url + "/v1/traces", retry_backoff_seconds=0.01,
                                            max_export_attempts=3).model_dump()
        llamonitor.initialize_monitoring_sync(cfg)
        record_llm_call()
        assert llamonitor.flush_sync(10)
        exporter = sink_named("otlp")
        wait_for(lambda: exporter.exporter_stats().get("spans_dropped") == 1)
        assert len(receiver.requests) == 3 and exporter.exporter_stats()["retries"] == 2
        receiver.status = 400  # a bad request will not get better by sending it again
        record_llm_call()
        assert llamonitor.flush_sync(10)
        wait_for(lambda: exporter.exporter_stats().get("spans_dropped") == 2)
        assert len(receiver.requests) == 4
    finally:
        llamonitor.shutdown_sync(10)
        receiver.stop()


def test_connection_refused_is_retried_then_counted(make_config, tmp_path: Path, memory_sink: InMemoryBackend) -> None:
    cfg = make_config(tmp_path, storage={"backend": "memory"})
    cfg.extensions["otlp"] = OTLPConfig(endpoint=f"http://127.0.0.1:{free_port()}/v1/traces",
                                        retry_backoff_seconds=0.01, max_export_attempts=4).model_dump()
    llamonitor.initialize_monitoring_sync(cfg)
    try:
        record_llm_call()
        assert llamonitor.flush_sync(10)
        exporter = sink_named("otlp")
        wait_for(lambda: exporter.exporter_stats().get("spans_dropped") == 1)
        assert exporter.exporter_stats()["retries"] == 3
    finally:
        llamonitor.shutdown_sync(10)
