"""``POST /v1/traces`` on a real ``llamonitor serve``: OTLP/JSON and protobuf, gzip, every refusal
(400 / 405 / 413 / 415 with a reason, never 500), partial success, the API token, OTLP/gRPC."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as g
from testkits.serve import serve, wait_events

pytestmark = pytest.mark.timeout(120)

TRACE = "5b8efff798038103d269b633813fc60c"
T0 = 1_764_800_000_000_000_000


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}  # OTLP/JSON: 64-bit ints as strings
    return {"key": key, "value": {"stringValue": value}}


def _span(span_id: str, name: str, attrs: dict[str, Any], parent: str | None = None, start: int = T0,
          end: int = T0 + 250_000_000, status: int = 0) -> dict[str, Any]:
    span: dict[str, Any] = {"traceId": TRACE, "spanId": span_id, "name": name, "kind": 3,
                            "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
                            "attributes": [_attr(k, v) for k, v in attrs.items()], "status": {"code": status}}
    if parent:
        span["parentSpanId"] = parent
    return span


def _request(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "billing-bot")]},
                               "scopeSpans": [{"scope": {"name": "test.scope"}, "spans": list(spans)}]}]}


def _post(base: str, body: bytes, content_type: str = "application/json", method: str = "POST",
          headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(base + "v1/traces", data=body if method == "POST" else None, method=method,
                                 headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("ingest")
    with serve(root) as base:
        yield base, root / "data"


AGENT = {g.GEN_AI_OPERATION_NAME: "invoke_agent", g.GEN_AI_AGENT_NAME: "planner", g.GEN_AI_AGENT_ID: "a-1",
         g.GEN_AI_CONVERSATION_ID: "conv-42"}
CHAT = {g.GEN_AI_OPERATION_NAME: "chat", g.GEN_AI_PROVIDER_NAME: "openai", g.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        g.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18", g.GEN_AI_USAGE_INPUT_TOKENS: 1000,
        g.GEN_AI_USAGE_OUTPUT_TOKENS: 200, "gen_ai.prompt.0.content": "secret prompt text"}


def test_json_genai_spans_become_linked_priced_events(server: tuple[str, Path]) -> None:
    base, data = server
    body = _request(_span("00000000000000a1", "invoke_agent planner", AGENT),
                    _span("00000000000000a2", "chat gpt-4o-mini", CHAT, parent="00000000000000a1"),
                    _span("00000000000000a3", "GET /health", {"http.request.method": "GET"}))
    status, raw, _ = _post(base, json.dumps(body).encode())
    assert status == 200, raw
    assert json.loads(raw) == {}  # full success: no partialSuccess
    events = {e.span_id: e for e in wait_events(data, 2)}
    assert set(events) == {"00000000000000a1", "00000000000000a2"}  # the HTTP span is skipped
    agent, chat = events["00000000000000a1"], events["00000000000000a2"]
    assert chat.trace_id == TRACE and chat.parent_span_id == "00000000000000a1"
    assert agent.operation_type == "agent" and chat.operation_type == "chat"
    assert chat.model == "gpt-4o-mini" and chat.provider == "openai"
    assert chat.response_model == "gpt-4o-mini-2024-07-18"  # asked for and answered, kept apart
    assert chat.usage is not None and (chat.usage.input_tokens, chat.usage.output_tokens) == (1000, 200)
    assert chat.cost is not None and chat.cost.total_cost_usd is not None and chat.cost.total_cost_usd > 0
    assert chat.agent is not None and chat.agent.agent_name == "planner"  # inherited from the parent span
    assert agent.agent is not None and (agent.agent.agent_name, agent.agent.agent_id) == ("planner", "a-1")
    assert chat.session_id == agent.session_id == "conv-42"
    assert chat.start_time_ns == T0 and chat.duration_ms == pytest.approx(250.0)
    assert chat.custom_attributes["service.name"] == "billing-bot"
    assert "gen_ai.prompt.0.content" not in chat.custom_attributes  # content only with capture_content
    assert chat.input_content is None


def test_protobuf_gzip_and_partial_success(server: tuple[str, Path]) -> None:
    from google.protobuf.json_format import ParseDict

    base, data = server
    good = _span("00000000000000b1", "chat gpt-4o", {**CHAT, g.GEN_AI_REQUEST_MODEL: "gpt-4o",
                                                         g.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06"}, status=2)
    bad = _span("00000000000000b2", "chat broken", CHAT, start=T0, end=T0 - 5)  # ends before it starts
    doc = _request(good, bad)
    for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:  # protobuf's JSON mapping: base64 ids
        for key in ("traceId", "spanId"):
            span[key] = __import__("base64").b64encode(bytes.fromhex(span[key])).decode()
    msg = ParseDict(doc, ExportTraceServiceRequest())
    status, raw, _ = _post(base, gzip.compress(msg.SerializeToString()), "application/x-protobuf",
                           headers={"Content-Encoding": "gzip"})
    assert status == 200, raw
    resp = ExportTraceServiceResponse.FromString(raw)
    assert resp.partial_success.rejected_spans == 1
    assert "00000000000000b2" in resp.partial_success.error_message
    events = [e for e in wait_events(data, 3) if e.span_id.startswith("00000000000000b")]
    assert [e.span_id for e in events] == ["00000000000000b1"]
    assert events[0].error and events[0].model == "gpt-4o" and events[0].trace_id == TRACE
    assert events[0].response_model == "gpt-4o-2024-08-06"


@pytest.mark.parametrize(("body", "ctype", "headers", "status", "reason"), [
    (b"{not json", "application/json", {}, 400, "not valid JSON"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}', "application/json", {}, 400,
     "traceId must be 32 hex characters"),
    (b'{"resourceSpans": 5}', "application/json", {}, 400, "resourceSpans must be an array"),
    (b"\x0a\xff\xff\xff", "application/x-protobuf", {}, 400, "not a protobuf ExportTraceServiceRequest"),
    (b"hello", "text/plain", {}, 415, "unsupported Content-Type"),
    (b"{}", "application/json", {"Content-Encoding": "br"}, 415, "unsupported Content-Encoding"),
    (b"not gzip", "application/json", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
    (gzip.compress(b" " * (65 * 1024 * 1024)), "application/json", {"Content-Encoding": "gzip"}, 413,
     "decompressed body exceeds"),
])
def test_bad_payloads_get_a_reason_never_500(server: tuple[str, Path], body: bytes, ctype: str,
                                            headers: dict[str, str], status: int, reason: str) -> None:
    got, raw, _ = _post(server[0], body, ctype, headers=headers)
    assert got == status, raw
    if ctype == "application/x-protobuf":
        from google.rpc.status_pb2 import Status

        assert reason in Status.FromString(raw).message
    else:
        assert reason in json.loads(raw)["message"]


def test_declared_oversize_body_is_413_before_reading_it(server: tuple[str, Path]) -> None:
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(server[0])
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (16 * 1024 * 1024 + 1))
        head = ""
        while "exceeds" not in head:  # status line and body may arrive in separate segments
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:  # the server closes a connection whose body it will not read
                break
            if not chunk:
                break
            head += chunk.decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head
    assert "exceeds the limit" in head


def test_get_is_405(server: tuple[str, Path]) -> None:
    assert _post(server[0], b"", method="GET")[0] == 405


def test_token_guards_ingestion_http_and_grpc(tmp_path: Path) -> None:
    grpc = pytest.importorskip("grpc")
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
    from testkits.serve import free_port

    port = free_port()
    body = json.dumps(_request(_span("00000000000000c1", "chat gpt-4o-mini", CHAT))).encode()
    with serve(tmp_path, "--token", "s3cret", "--otlp-grpc-port", str(port)) as base:
        assert _post(base, body)[0] == 401
        assert _post(base, body, headers={"Authorization": "Bearer s3cret"})[0] == 200
        doc = _request(_span("00000000000000c2", "chat gpt-4o-mini", CHAT))
        doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(
            traceId=__import__("base64").b64encode(bytes.fromhex(TRACE)).decode(),
            spanId=__import__("base64").b64encode(bytes.fromhex("00000000000000c2")).decode())
        from google.protobuf.json_format import ParseDict

        msg = ParseDict(doc, ExportTraceServiceRequest())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Export(msg, timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stub.Export(msg, timeout=10, metadata=[("authorization", "Bearer s3cret")])
        events = wait_events(tmp_path / "data", 2)
    assert sorted(e.span_id for e in events) == ["00000000000000c1", "00000000000000c2"]


def test_batch_larger_than_the_writer_queue_is_503_retry_after(tmp_path: Path) -> None:
    """Back-pressure is a retryable 503: the batch is refused whole, nothing of it half-stored."""
    spans = [_span(f"{i + 1:016x}", "chat gpt-4o-mini", CHAT) for i in range(20)]
    with serve(tmp_path, env={"LLMOPS_MAX_QUEUE_SIZE": "10"}) as base:
        status, raw, headers = _post(base, json.dumps(_request(*spans)).encode())
        assert status == 503, raw
        assert headers.get("retry-after") == "1" or headers.get("Retry-After") == "1"
        assert "queue is full" in json.loads(raw)["message"]
        status, raw, _ = _post(base, json.dumps(_request(*spans[:5])).encode())
        assert status == 200, raw
        events = wait_events(tmp_path / "data", 5)
    assert sorted(e.span_id for e in events) == [f"{i + 1:016x}" for i in range(5)]
