"""OTLP/gRPC trace receiver (``TraceService/Export``), started by ``llamonitor serve`` when
``grpcio`` is installed (``pip install 'llamonitor[ingest-grpc]'``).

It shares :class:`~llamonitor.ingest.receiver.Ingestor` with the HTTP receiver. Statuses:
``INVALID_ARGUMENT`` for a malformed request, ``UNAVAILABLE`` when the writer's queue is full
(retryable), ``UNAUTHENTICATED`` without the API token when one is configured.
"""

from __future__ import annotations

import hmac
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llamonitor.ingest.decode import DecodeError, spans_of_request
from llamonitor.ingest.receiver import Backpressure, Ingestor

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def start_grpc_server(ingestor: Ingestor, host: str, port: int, *, token: str | None = None) -> Any:
    """Start and return a ``grpc.Server`` on ``host:port`` (port 0: a free one, see ``server.port``)."""

    def export(request: Any, context: Any) -> ExportTraceServiceResponse:
        if token:
            given = dict(context.invocation_metadata()).get("authorization", "")
            if not (given[:7].lower() == "bearer " and hmac.compare_digest(given[7:].strip().encode(), token.encode())):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            result = ingestor.ingest_spans(spans_of_request(request))
        except DecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.reason)
        except Backpressure as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except Exception as exc:  # never an internal error for what a client sent
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"could not ingest: {type(exc).__name__}: {exc}")
        resp = ExportTraceServiceResponse()
        if result.rejected:
            resp.partial_success.rejected_spans = result.rejected
            resp.partial_success.error_message = "; ".join(result.errors)
        return resp

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=ExportTraceServiceRequest.FromString,
            response_serializer=ExportTraceServiceResponse.SerializeToString)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)])
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}")
    server.start()
    server.port = bound
    return server
