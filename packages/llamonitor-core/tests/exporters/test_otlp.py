"""OTLP exporter: a loopback OTLP/HTTP receiver decodes the protobuf spans of a nested trace."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import OTLPConfig, monitor_llm, monitoring_agent, monitoring_session, monitoring_trace
from llamonitor.testing import InMemoryBackend
from llamonitor.tracing import start_span
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from testkits.exporters import Receiver, attr_value, decode, free_port, record_llm_call, sink_named, wait_for


def otlp_config(make_config: Any, tmp_path: Path, endpoint: str, **otlp: Any) -> llamonitor.MonitorConfig:
    cfg = make_config(tmp_path, storage={"backend": "memory"})
    cfg.extensions["otlp"] = OTLPConfig(endpoint=endpoint, **otlp).model_dump()
    return cfg


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_nested_trace_arrives_as_linked_spans_with_genai_attributes(compression: str, make_config, tmp_path: Path,
                                                                    memory_sink: InMemoryBackend,
                                                                    receiver: Receiver) -> None:
    @monitor_llm("orchestrate", operation_type="invoke_agent")
    async def orchestrate(q: str) -> str:
        with monitoring_agent("researcher", agent_id="agent-7", role="research"):
            await lookup(q)
            record_llm_call("chat gpt-4o", input_tokens=120, output_tokens=30, cached=20)
        try:
            await lookup("fail")
        except RuntimeError:
            pass
        return q

    @monitor_llm("lookup", operation_type="execute_tool")
    async def lookup(q: str) -> str:
        if q == "fail":
            raise RuntimeError("tool exploded")
        return q

    cfg = otlp_config(make_config, tmp_path, receiver.url + "/v1/traces", compression=compression,
                      headers={"Authorization": "Bearer t0ken"}, resource_attributes={"deployment.environment": "test"})
    cfg.service_name = "support-bot"
    llamonitor.initialize_monitoring_sync(cfg)

    async def main() -> None:
        with monitoring_session("user-42"):
            await orchestrate("hi")

    asyncio.run(main())
    assert llamonitor.flush_sync(10)
    wait_for(lambda: len(decode(receiver)[0]) == 4)
    spans, resources = decode(receiver)
    assert resources[0]["service.name"] == "support-bot"
    assert resources[0]["deployment.environment"] == "test"
    assert receiver.requests[0][1]["authorization"] == "Bearer t0ken"
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_name.setdefault(s["span"].name, []).append(s)
    # span names follow the GenAI conventions: "{operation} {target}"
    assert sorted(by_name) == ["chat gpt-4o", "execute_tool lookup", "invoke_agent orchestrate"]
    by_name["lookup"], by_name["orchestrate"] = by_name["execute_tool lookup"], by_name["invoke_agent orchestrate"]
    assert len(by_name["lookup"]) == 2
    root = by_name["orchestrate"][0]["span"]
    chat = by_name["chat gpt-4o"][0]
    assert root.parent_span_id == b"" and len(root.trace_id) == 16 and len(root.span_id) == 8
    for s in spans:
        assert s["span"].trace_id == root.trace_id
        if s["span"] is not root:
            assert s["span"].parent_span_id == root.span_id
        assert s["attrs"]["session.id"] == "user-42"
        assert s["span"].end_time_unix_nano >= s["span"].start_time_unix_nano > 1_600_000_000 * 10**9
    # ids are our hex ids as bytes
    stored = {e.operation_name: e for e in memory_sink.events}
    assert root.span_id.hex() == stored["orchestrate"].span_id and root.trace_id.hex() == stored["orchestrate"].trace_id
    a = chat["attrs"]
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "gpt-4o"
    assert a["gen_ai.system"] == "openai" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.usage.input_tokens"] == 120 and a["gen_ai.usage.output_tokens"] == 30
    assert a["gen_ai.usage.cache_read.input_tokens"] == 20
    assert a["gen_ai.agent.name"] == "researcher" and a["gen_ai.agent.id"] == "agent-7"
    assert a["llamonitor.cost.usd"] > 0
    assert chat["span"].kind == Span.SPAN_KIND_CLIENT and root.kind == Span.SPAN_KIND_INTERNAL
    assert by_name["orchestrate"][0]["attrs"]["gen_ai.operation.name"] == "invoke_agent"
    failed = next(s for s in by_name["lookup"] if s["span"].status.code == Status.STATUS_CODE_ERROR)
    assert failed["attrs"]["error.type"] == "RuntimeError"
    assert failed["span"].status.message == "tool exploded"
    ok = next(s for s in by_name["lookup"] if s is not failed)
    assert "error.type" not in ok["attrs"] and ok["span"].status.code == Status.STATUS_CODE_UNSET
    exporter = sink_named("otlp")
    # the receiver stores a request before it answers: the sender counts it a moment later
    wait_for(lambda: exporter.exporter_stats().get("spans_sent") == 4)
    assert exporter.exporter_stats().get("spans_dropped", 0) == 0


def test_adapter_ids_that_are_not_hex_are_mapped_deterministically(make_config, tmp_path: Path,
                                                                   memory_sink: InMemoryBackend,
                                                                   receiver: Receiver) -> None:
    llamonitor.initialize_monitoring_sync(otlp_config(make_config, tmp_path, receiver.url + "/v1/traces"))
    with monitoring_trace("conversation-1"):
        parent = start_span("crew run", operation_type="invoke_agent", span_id="run-abc")
        with parent.activate():
            start_span("task", operation_type="execute_tool", span_id="task-1").end(
                attributes={"response_model": "gpt-4o-2024-08-06", "tags": ["a", "b"], "retries": 2})
        parent.end()
    assert llamonitor.flush_sync(10)
    wait_for(lambda: len(decode(receiver)[0]) == 2)
    spans = {s["span"].name: s for s in decode(receiver)[0]}
    run, task = spans["invoke_agent crew run"], spans["execute_tool task"]

    def mapped(value: str, width: int) -> bytes:
        return hashlib.sha256(value.encode()).digest()[:width]

    assert run["span"].trace_id == task["span"].trace_id == mapped("conversation-1", 16)
    assert run["span"].span_id == mapped("run-abc", 8)
    assert task["span"].parent_span_id == run["span"].span_id
    assert run["attrs"]["llamonitor.trace_id"] == "conversation-1" and run["attrs"]["llamonitor.span_id"] == "run-abc"
    assert task["attrs"]["llamonitor.parent_span_id"] == "run-abc"
    assert task["attrs"]["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert task["attrs"]["tags"] == ["a", "b"] and task["attrs"]["retries"] == 2


def test_unreachable_collector_costs_a_counter_only(make_config, tmp_path: Path,
                                                    memory_sink: InMemoryBackend) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}/v1/traces"  # nothing listens there
    llamonitor.initialize_monitoring_sync(otlp_config(make_config, tmp_path, endpoint, timeout_seconds=1))
    for _ in range(5):
        record_llm_call()
    assert llamonitor.flush_sync(10)
    exporter = sink_named("otlp")
    wait_for(lambda: exporter.exporter_stats().get("spans_dropped", 0) == 5)
    assert len(memory_sink.events) == 5
    health = llamonitor.health()["sinks"]["otlp"]
    assert health["spilled_events"] == 0 and health["exporter"]["errors"] >= 1
    assert llamonitor.shutdown_sync(10)


def test_collector_errors_and_partial_rejections_are_counted(make_config, tmp_path: Path,
                                                             memory_sink: InMemoryBackend) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    partial = ExportTraceServiceResponse()
    partial.partial_success.rejected_spans = 1
    receiver = Receiver(status=200, body=partial.SerializeToString())
    try:
        llamonitor.initialize_monitoring_sync(otlp_config(make_config, tmp_path, receiver.url + "/v1/traces",
                                                          retry_backoff_seconds=0.01, max_export_attempts=2))
        record_llm_call()
        record_llm_call()
        assert llamonitor.flush_sync(10)
        exporter = sink_named("otlp")
        wait_for(lambda: exporter.exporter_stats().get("spans_rejected") == 1)
        assert exporter.exporter_stats()["spans_sent"] == 1
        receiver.status = 503
        record_llm_call()
        assert llamonitor.flush_sync(10)
        wait_for(lambda: exporter.exporter_stats().get("spans_dropped") == 1)
        assert exporter.exporter_stats()["errors_status"] == 1  # once per request, after its 2 tries
        assert exporter.exporter_stats()["retries"] == 1
    finally:
        llamonitor.shutdown_sync(10)
        receiver.stop()


def test_wire_encoder_output_decodes_with_the_official_classes() -> None:
    from llamonitor.exporters._otlp_wire import WireEncoder

    wire = WireEncoder(max_chars=5000)
    attrs = {"s": "héllo ✓", "long": "x" * 3000, "neg": -5, "big": 2**62, "t": True, "f": False, "d": -1.25,
             "arr": ["a", 1, 2.5, True], "obj": {"k": 1}, "none": None}
    span = wire.span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"\x03" * 8, name="n" * 200, kind=3,
                     start_ns=2**62, end_ns=2**62 + 5, attrs=attrs, error_message="bad")
    body = wire.request({"service.name": "svc"}, "llamonitor", "1.0", [span, span])
    request = ExportTraceServiceRequest.FromString(body)
    rs = request.resource_spans[0]
    assert rs.resource.attributes[0].key == "service.name"
    assert rs.scope_spans[0].scope.version == "1.0" and len(rs.scope_spans[0].spans) == 2
    s = rs.scope_spans[0].spans[0]
    assert s.trace_id == b"\x01" * 16 and s.parent_span_id == b"\x03" * 8 and s.name == "n" * 200
    assert s.kind == Span.SPAN_KIND_CLIENT and s.end_time_unix_nano == 2**62 + 5
    assert s.status.code == Status.STATUS_CODE_ERROR and s.status.message == "bad"
    decoded = {kv.key: attr_value(kv.value) for kv in s.attributes}
    assert decoded == {"s": "héllo ✓", "long": "x" * 3000, "neg": -5, "big": 2**62, "t": True, "f": False,
                       "d": -1.25, "arr": ["a", 1, 2.5, True], "obj": "{'k': 1}"}
