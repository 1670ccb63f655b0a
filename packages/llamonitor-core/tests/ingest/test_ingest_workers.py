"""``llamonitor serve --workers 2`` with OTLP ingestion: every worker ingests into its own writer, over
HTTP on the shared socket and over gRPC on the shared port; every span is stored once, and SIGTERM
to the server drains every worker's queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from testkits.serve import free_port, wait_events

pytestmark = pytest.mark.timeout(180)

T0 = 1_764_800_000_000_000_000


def _request(trace: int, first: int, n: int) -> dict[str, Any]:
    def kv(key: str, value: Any) -> dict[str, Any]:
        return {"key": key, "value": {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}}

    spans = [{"traceId": f"{trace:032x}", "spanId": f"{first + i:016x}", "name": "chat gpt-4o-mini", "kind": 3,
              "startTimeUnixNano": str(T0 + i), "endTimeUnixNano": str(T0 + i + 250_000_000),
              "attributes": [kv("gen_ai.operation.name", "chat"), kv("gen_ai.provider.name", "openai"),
                             kv("gen_ai.request.model", "gpt-4o-mini"), kv("gen_ai.usage.input_tokens", 100),
                             kv("gen_ai.usage.output_tokens", 20)]}
             for i in range(n)]
    return {"resourceSpans": [{"resource": {"attributes": [kv("service.name", "fan-in")]},
                               "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]}


def _health(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(base + "/api/health", timeout=30) as resp:  # a new connection: any worker
        body: dict[str, Any] = json.loads(resp.read())
        return body


def test_two_workers_ingest_http_and_grpc_and_store_every_span_once(tmp_path: Path) -> None:
    grpc = pytest.importorskip("grpc")
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    port, grpc_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "LLMOPS_FLUSH_INTERVAL_SECONDS": "0.05"}
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "llamonitor", "serve", "--dir", str(tmp_path / "data"),
                                 "--port", str(port), "--workers", "2", "--otlp-grpc-port", str(grpc_port)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 60
            workers: dict[int, dict[str, Any]] = {}
            while len(workers) < 2:
                assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
                try:
                    health = _health(base)
                except OSError:
                    time.sleep(0.2)
                    continue
                assert health["ingest"]["events_accepted"] == 0, health
                workers[health["worker"]] = health

            http_requests, grpc_requests, per_request = 60, 30, 20
            for r in range(http_requests):  # each request on a new connection: the kernel picks the worker
                body = json.dumps(_request(1 + r, 1 + r * per_request, per_request)).encode()
                req = urllib.request.Request(base + "/v1/traces", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    assert resp.status == 200
            for r in range(grpc_requests):  # a new channel each time: one of the workers' gRPC servers
                doc = _request(1_000 + r, 100_000 + r * per_request, per_request)
                for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
                    span["traceId"] = __import__("base64").b64encode(bytes.fromhex(span["traceId"])).decode()
                    span["spanId"] = __import__("base64").b64encode(bytes.fromhex(span["spanId"])).decode()
                with grpc.insecure_channel(f"127.0.0.1:{grpc_port}",
                                           options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                    trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                        ParseDict(doc, ExportTraceServiceRequest()), timeout=30)
            total = (http_requests + grpc_requests) * per_request

            # both workers ingested a share, and their counters add up to every span sent
            accepted: dict[int, int] = {}
            while sum(accepted.values()) < total or len(accepted) < 2:
                assert time.monotonic() < deadline + 60, (accepted, total)
                health = _health(base)
                accepted[health["worker"]] = health["ingest"]["events_accepted"]
            assert sum(accepted.values()) == total and min(accepted.values()) > 0, accepted
        finally:
            proc.send_signal(signal.SIGTERM)  # the supervisor stops the workers: each drains its writer
            proc.wait(timeout=60)
    assert proc.returncode == 0, log_path.read_text()
    events = wait_events(tmp_path / "data", total, timeout=10)
    span_ids = [e.span_id for e in events]
    assert len(span_ids) == total and len(set(span_ids)) == total
    assert {e.model for e in events} == {"gpt-4o-mini"}
    assert all(e.cost is not None and (e.cost.total_cost_usd or 0) > 0 for e in events)
