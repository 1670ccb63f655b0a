"""Datadog exporter: DogStatsD lines on a loopback UDP listener, API payloads on a loopback HTTP server."""

from __future__ import annotations

import logging
import re
import socket
import time
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import DatadogConfig, monitor_llm, monitoring_agent
from llamonitor.exporters.datadog import DatadogExporter, _pack
from llamonitor.testing import InMemoryBackend
from testkits.exporters import Receiver, record_llm_call, sink_named, wait_for

LINE = re.compile(r"^(?P<name>[a-z][a-z0-9_.]*):(?P<value>-?[0-9.]+)\|(?P<type>c|d)(?:\|@(?P<rate>[0-9.]+))?"
                  r"\|#(?P<tags>[^|\s]+)$")
API_KEY = "test-api-key-0123456789abcdef"


def udp_listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    return sock


def receive_lines(sock: socket.socket, until: Any, timeout: float = 10.0) -> tuple[list[str], list[int]]:
    lines: list[str] = []
    sizes: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65535)
        except TimeoutError:
            if until(lines):
                break
            continue
        sizes.append(len(data))
        lines.extend(data.decode().split("\n"))
    return lines, sizes


def parse(lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        m = LINE.match(line)
        assert m, f"malformed DogStatsD line: {line!r}"
        tags = dict(t.split(":", 1) for t in m["tags"].split(","))
        out.append({"name": m["name"], "value": float(m["value"]), "type": m["type"], "rate": m["rate"], "tags": tags})
    return out


def dd_config(make_config: Any, tmp_path: Path, **dd: Any) -> llamonitor.MonitorConfig:
    cfg = make_config(tmp_path, storage={"backend": "memory"}, service_name="support-bot")
    cfg.extensions["datadog"] = DatadogConfig(**{"submission_interval": 0.1, "tags": ["env:test"], **dd}).model_dump()
    return cfg


@monitor_llm("classify", model="gpt-4o")
def classify(text: str) -> str:
    if text == "bad":
        raise KeyError(text)
    return text


def run_workload(n_ok: int = 5) -> None:
    with monitoring_agent("router"):
        for i in range(n_ok):
            classify(f"q{i}")
        with pytest.raises(KeyError):
            classify("bad")
        record_llm_call("chat", input_tokens=1000, output_tokens=500)


def test_dogstatsd_lines_have_seed_names_values_and_tags(make_config, tmp_path: Path,
                                                          memory_sink: InMemoryBackend) -> None:
    sock = udp_listener()
    port = sock.getsockname()[1]
    llamonitor.initialize_monitoring_sync(dd_config(make_config, tmp_path, use_statsd=True, statsd_host="127.0.0.1",
                                                    statsd_port=port, statsd_max_packet_bytes=512))
    run_workload()
    assert llamonitor.flush_sync(10)

    def complete(lines: list[str]) -> bool:
        return sum(1 for line in lines if line.startswith("llmops.operation.duration.ms:")) >= 7

    lines, sizes = receive_lines(sock, complete)
    sock.close()
    metrics = parse(lines)
    assert max(sizes) <= 512
    assert len(sizes) > 1  # packed into several datagrams under the size limit

    def value(name: str, **tags: str) -> float:
        return sum(m["value"] for m in metrics if m["name"] == name and tags.items() <= m["tags"].items())

    base = {"operation_name": "classify", "model": "gpt-4o", "type": "llm_call", "agent": "router",
            "env": "test", "service": "support-bot"}
    assert value("llmops.operations.count", **base) == 6
    assert value("llmops.errors.count", error_type="KeyError", **base) == 1
    durations = [m for m in metrics if m["name"] == "llmops.operation.duration.ms" and m["tags"]["operation_name"] ==
                 "classify"]
    assert len(durations) == 6 and all(m["type"] == "d" and m["value"] >= 0 for m in durations)
    chat = {"operation_name": "chat", "type": "chat"}
    assert value("llmops.tokens.count", token_type="input", **chat) == 1000
    assert value("llmops.tokens.count", token_type="output", **chat) == 500
    assert value("llmops.cost.usd", **chat) == pytest.approx(1000 * 2.5e-6 + 500 * 10e-6)
    assert all(m["type"] == "c" for m in metrics if m["name"] != "llmops.operation.duration.ms")
    exporter = sink_named("datadog")
    wait_for(lambda: exporter.exporter_stats().get("statsd_lines_sent") == len(lines))
    assert exporter.exporter_stats().get("statsd_lines_dropped", 0) == 0


def test_http_api_receives_series_and_distributions(make_config, tmp_path: Path, memory_sink: InMemoryBackend,
                                                    receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    llamonitor.initialize_monitoring_sync(dd_config(make_config, tmp_path, api_key=API_KEY, api_url=receiver.url))
    run_workload()
    assert llamonitor.flush_sync(10)
    wait_for(lambda: receiver.json_bodies("/api/v2/series") and receiver.json_bodies("/api/v1/distribution_points"))
    llamonitor.shutdown_sync(10)

    for path, headers, _ in receiver.requests:
        assert headers["dd-api-key"] == API_KEY and headers["content-type"] == "application/json", path
    series = [s for body in receiver.json_bodies("/api/v2/series") for s in body["series"]]

    def count(metric: str, *tags: str) -> float:
        return sum(p["value"] for s in series if s["metric"] == metric and set(tags) <= set(s["tags"])
                   for p in s["points"])

    assert all(s["type"] == 1 and s["interval"] >= 1 and s["points"][0]["timestamp"] > 1_600_000_000 for s in series)
    tags = ("operation_name:classify", "model:gpt-4o", "type:llm_call", "agent:router", "env:test")
    assert count("llmops.operations.count", *tags) == 6
    assert count("llmops.errors.count", *tags, "error_type:KeyError") == 1
    assert count("llmops.tokens.count", "operation_name:chat", "token_type:input") == 1000
    dists = [s for body in receiver.json_bodies("/api/v1/distribution_points") for s in body["series"]]
    latencies = [v for s in dists if s["metric"] == "llmops.operation.duration.ms" and "operation_name:classify" in
                 s["tags"] for _, values in s["points"] for v in values]
    assert len(latencies) == 6 and all(s["type"] == "distribution" for s in dists)
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("mode", ["statsd", "api"])
def test_killing_the_agent_or_api_mid_run_breaks_nothing(mode: str, make_config, tmp_path: Path,
                                                         memory_sink: InMemoryBackend,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sock = udp_listener() if mode == "statsd" else None
    api = Receiver() if mode == "api" else None
    dd: dict[str, Any] = ({"use_statsd": True, "statsd_host": "127.0.0.1", "statsd_port": sock.getsockname()[1]}
                          if sock else {"api_key": API_KEY, "api_url": api.url if api else None, "timeout_seconds": 1})
    llamonitor.initialize_monitoring_sync(dd_config(make_config, tmp_path, **dd))
    exporter: DatadogExporter = sink_named("datadog")
    run_workload(3)
    assert llamonitor.flush_sync(10)
    if sock:
        receive_lines(sock, lambda lines: len(lines) > 0)
        sock.close()  # the agent goes away
    elif api:
        wait_for(lambda: api.requests)
        api.stop()  # the API goes away

    def dropped() -> bool:
        run_workload(2)
        llamonitor.flush_sync(10)
        time.sleep(0.15)
        stats = exporter.exporter_stats()
        return stats.get("statsd_packets_dropped", 0) > 0 or stats.get("series_dropped", 0) > 0

    wait_for(dropped, timeout=15, interval=0.01)
    assert llamonitor.flush_sync(10)
    assert len(memory_sink.events) == len(set(memory_sink.ids()))
    stats = exporter.exporter_stats()
    assert stats["errors"] >= 1 and stats["last_error"]
    sinks = llamonitor.health()["sinks"]
    assert sinks["datadog"]["spilled_events"] == 0 and sinks["datadog"]["degraded"] is False
    events = len(memory_sink.events)
    assert events >= 5 + 4 and sinks["memory"]["written"] == events
    assert llamonitor.shutdown_sync(10)
    assert API_KEY not in caplog.text


def test_api_key_is_required_for_http_and_never_in_repr(monkeypatch: pytest.MonkeyPatch, make_config,
                                                        tmp_path: Path) -> None:
    monkeypatch.delenv("DD_API_KEY", raising=False)
    cfg = make_config(tmp_path)
    cfg.extensions["datadog"] = DatadogConfig(enabled=True).model_dump()
    with pytest.raises(ValueError, match="api_key"):
        llamonitor.initialize_monitoring_sync(cfg)
    dd = DatadogConfig(api_key=API_KEY, app_key="app-secret")
    assert API_KEY not in repr(dd) and "app-secret" not in repr(dd)
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    from llamonitor.exporters.datadog import create_datadog_exporter

    exp = create_datadog_exporter(cfg, DatadogConfig().model_dump())
    assert exp.mode == "api" and exp.base_url == "https://api.datadoghq.com"


def test_datagrams_stay_under_the_limit() -> None:
    lines = [f"llmops.operations.count:1|c|#operation_name:op{i}" for i in range(200)]
    packets = list(_pack(lines, 512))
    assert all(len(p) <= 512 for p, _ in packets)
    assert sum(n for _, n in packets) == 200
    assert b"\n".join(p for p, _ in packets).decode().split("\n") == lines
