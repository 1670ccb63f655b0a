"""Helpers for the exporter tests: loopback receivers, free ports, event recording."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import llamonitor
from llamonitor.schema.events import TokenUsage
from llamonitor.tracing import start_span


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def sink_named(name: str) -> Any:
    """The sink called ``name`` of the active writer."""
    writer = llamonitor.get_writer()
    assert writer is not None
    return next(s.sink for s in writer.sinks if s.name == name)


def record_llm_call(name: str = "chat", model: str = "gpt-4o", input_tokens: int = 1000, output_tokens: int = 500,
                    cached: int = 0, reasoning: int = 0) -> None:
    """One adapter-style LLM event with provider usage (priced by the cost collector)."""
    span = start_span(name, operation_type="chat", model=model, provider="openai")
    span.end(usage=TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens,
                              total_tokens=input_tokens + output_tokens, cached_input_tokens=cached or None,
                              reasoning_tokens=reasoning or None, source="provider"))


class Receiver:
    """A loopback HTTP server that stores every request (path, headers, body)."""

    def __init__(self, status: int = 200, body: bytes = b"", statuses: list[int] | None = None) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = status
        #: answered first, one per request, before ``status``
        self.statuses = list(statuses or [])
        self.body = body
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, data))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else receiver.status)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json_bodies(self, path: str) -> list[Any]:
        return [json.loads(body) for p, _, body in list(self.requests) if p == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def attr_value(v: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [attr_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def decode(receiver: Receiver) -> tuple[list[dict[str, Any]], list[Any]]:
    """The spans (as dicts) and resources of every OTLP request ``receiver`` got."""
    import gzip

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans, resources = [], []
    for path, headers, body in list(receiver.requests):
        assert path == "/v1/traces"
        assert headers["content-type"] == "application/x-protobuf"
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            resources.append({kv.key: attr_value(kv.value) for kv in rs.resource.attributes})
            for ss in rs.scope_spans:
                assert ss.scope.name == "llamonitor"
                for span in ss.spans:
                    spans.append({"span": span, "attrs": {kv.key: attr_value(kv.value) for kv in span.attributes}})
    return spans, resources


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition, keyed by (name, labels)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def total(values: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lbl), v in values.items() if n == name and want <= set(lbl))
