"""The OTLP/HTTP trace receiver: ``POST /v1/traces`` as ASGI middleware in front of the API app.

It answers only ``/v1/traces`` and passes everything else (and the lifespan) on to the app it
wraps; ``create_api_server(..., ingest=True)`` installs it inside the bearer-token middleware, so
the API token guards ingestion too. Records go to the process's writer
(:data:`llamonitor.runtime.STATE`), started on the first request from the server's config when
the process has none, and drained at shutdown.

Answers: 200 with an ``ExportTraceServiceResponse`` (``partial_success`` when some spans could
not be mapped), 400 malformed body, 405 not POST, 413 too large, 415 unsupported type or encoding,
503 with ``Retry-After`` when the writer's queue cannot take the batch (the exporter retries:
nothing accepted is lost). Never 500: an unexpected failure is answered 400 with its reason
and logged once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from llamonitor.asgi_body import BodyTooLarge, read_body
from llamonitor.ingest.decode import JSON, MAX_BODY_BYTES, PROTOBUF, DecodeError, OtlpSpan, decode_body
from llamonitor.ingest.mapping import IngestResult, map_spans
from llamonitor.runtime import STATE, initialize_monitoring_sync, shutdown_sync
from llamonitor.schema.config import MonitorConfig

logger = logging.getLogger("llamonitor")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TRACES_PATH = "/v1/traces"


class Backpressure(Exception):
    """The writer's queue has no room for a batch (answered 503 / UNAVAILABLE: retry later)."""


class IngestStats:
    """Counters of everything the receiver saw (exposed through :func:`stats`)."""

    def __init__(self) -> None:
        self.requests = 0
        self.spans_received = 0
        self.events_accepted = 0
        self.spans_skipped = 0
        self.spans_rejected = 0
        self.requests_refused = 0
        self.lock = threading.Lock()

    def as_dict(self) -> dict[str, int]:
        """A snapshot."""
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


STATS = IngestStats()


def stats() -> dict[str, int]:
    """Counters of the receivers in this process: requests, spans received / accepted as events /
    skipped (not GenAI) / rejected (unmappable), requests refused (4xx, 503)."""
    return STATS.as_dict()


class Ingestor:
    """Decode, map and enqueue; shared by the HTTP and gRPC receivers. Thread-safe."""

    def __init__(self, config: MonitorConfig, on_writer: Callable[[], Any] | None = None) -> None:
        # uvicorn owns the signals of the server process; the writer must not take them over
        self.config = config.model_copy(update={"handle_sigterm": False})
        self.owns_writer = False
        #: called once this receiver started the writer (the API's live hub attaches to it)
        self.on_writer = on_writer
        self._lock = threading.Lock()
        self._hand_off = threading.Lock()

    def _recorder(self) -> Any:
        rec = STATE.recorder
        if rec is None:
            with self._lock:
                rec = STATE.recorder
                if rec is None:
                    initialize_monitoring_sync(self.config)
                    self.owns_writer = True
                    rec = STATE.recorder
                    if rec is not None and self.on_writer is not None:
                        try:
                            self.on_writer()
                        except Exception:  # the live feed must not stop ingestion
                            logger.exception("llamonitor: attaching the live feed to the ingestion writer failed")
        if rec is None:
            raise DecodeError("monitoring is disabled in this server's configuration (LLMOPS_ENABLED)", 503)
        return rec

    def ingest_spans(self, spans: list[OtlpSpan]) -> IngestResult:
        """Map ``spans`` and hand the records to the writer; raises :class:`Backpressure`."""
        result = map_spans(spans)
        rec = self._recorder()
        records = result.records
        # The whole batch or nothing: its room is what the writer's queue has left (``limit``:
        # the bound minus what the writer holds while delivering). Checked and filled under one
        # lock, so concurrent requests never overshoot it together -- a record put beyond it
        # would meet the overflow policy (dropped, or a blocked request thread) after a 200.
        with self._hand_off:
            if records and len(rec) + len(records) > rec.limit:
                raise Backpressure(f"the writer's queue is full ({len(rec)} queued, {rec.held} being written, "
                                   f"room for {rec.max_size}); retry later")
            put = rec.put
            for record in records:
                put(record)
        with STATS.lock:
            STATS.requests += 1
            STATS.spans_received += len(spans)
            STATS.events_accepted += len(records)
            STATS.spans_skipped += result.skipped
            STATS.spans_rejected += result.rejected
        return result

    def ingest_body(self, body: bytes, content_type: str | None, content_encoding: str | None) -> IngestResult:
        """Decode an OTLP/HTTP body and ingest its spans."""
        return self.ingest_spans(decode_body(body, content_type, content_encoding))

    def close(self) -> None:
        """Drain and stop the writer this receiver started (a writer it found is left running)."""
        if self.owns_writer:
            self.owns_writer = False
            shutdown_sync()


def response_body(result: IngestResult, media: str) -> bytes:
    """The ``ExportTraceServiceResponse`` in the request's encoding."""
    rejected = result.rejected
    message = "; ".join(result.errors) if rejected else ""
    if media == PROTOBUF:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        resp = ExportTraceServiceResponse()
        if rejected:
            resp.partial_success.rejected_spans = rejected
            resp.partial_success.error_message = message
        return bytes(resp.SerializeToString())
    doc: dict[str, Any] = {}
    if rejected:
        doc["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
    return json.dumps(doc).encode()


class OtlpIngest:
    """ASGI middleware serving ``POST /v1/traces`` (and an OTLP/gRPC server when ``grpc_port``)."""

    def __init__(self, app: ASGIApp, config: MonitorConfig, grpc_port: int | None = None,
                 grpc_host: str = "127.0.0.1", token: str | None = None,
                 on_writer: Callable[[], Any] | None = None) -> None:
        self.app = app
        self.ingestor = Ingestor(config, on_writer)
        self.grpc_port = grpc_port
        self.grpc_host = grpc_host
        self.token = token
        self._grpc: Any = None
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == TRACES_PATH:
            await self._traces(scope, receive, send)
            return
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        await self.app(scope, receive, send)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self.grpc_port is not None:
                self._start_grpc()
            elif message["type"] == "lifespan.shutdown":
                if self._grpc is not None:
                    self._grpc.stop(grace=2.0)
                    self._grpc = None
                await asyncio.to_thread(self.ingestor.close)
            return message
        return wrapped

    def _start_grpc(self) -> None:
        try:
            from llamonitor.ingest.grpc_receiver import start_grpc_server
        except ImportError as exc:
            logger.warning("llamonitor: OTLP/gRPC receiver not started: %s (pip install 'llamonitor[ingest-grpc]')",
                           exc)
            return
        try:
            self._grpc = start_grpc_server(self.ingestor, self.grpc_host, self.grpc_port or 4317, token=self.token)
        except Exception as exc:  # a taken port must not stop the HTTP API
            logger.warning("llamonitor: OTLP/gRPC receiver could not bind %s:%s: %s", self.grpc_host,
                           self.grpc_port, exc)

    async def _traces(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        media = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        reply_media = PROTOBUF if media == PROTOBUF else JSON
        if scope.get("method") != "POST":
            await _error(send, 405, "use POST for /v1/traces", reply_media, [(b"allow", b"POST")])
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _error(send, 413, f"body of {declared} bytes exceeds the limit of {MAX_BODY_BYTES}", reply_media)
            return
        try:
            body = await read_body(receive, MAX_BODY_BYTES)
        except BodyTooLarge:
            await _error(send, 413, f"body exceeds the limit of {MAX_BODY_BYTES} bytes", reply_media)
            return
        if body is None:
            return
        try:
            result = await asyncio.to_thread(self.ingestor.ingest_body, body, headers.get("content-type"),
                                             headers.get("content-encoding"))
        except DecodeError as exc:
            await _error(send, exc.status, exc.reason, reply_media)
            return
        except Backpressure as exc:
            await _error(send, 503, str(exc), reply_media, [(b"retry-after", b"1")])
            return
        except Exception as exc:  # never a 500 for what a client sent
            if not self._warned:
                self._warned = True
                logger.exception("llamonitor: OTLP ingestion failed on a request (logged once)")
            await _error(send, 400, f"could not ingest the request: {type(exc).__name__}: {exc}", reply_media)
            return
        await _reply(send, 200, response_body(result, reply_media), reply_media)


async def _reply(send: Send, status: int, body: bytes, media: str,
                 extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra_headers or [])})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, status: int, reason: str, media: str,
                 extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """An OTLP error: a ``google.rpc.Status`` (protobuf) or ``{"code", "message"}`` (JSON)."""
    with STATS.lock:
        STATS.requests_refused += 1
    if media == PROTOBUF:
        try:
            from google.rpc.status_pb2 import Status

            body = bytes(Status(code=3 if status == 400 else 14 if status == 503 else 2,
                                message=reason).SerializeToString())
        except ImportError:
            media, body = "text/plain; charset=utf-8", reason.encode()
    else:
        body = json.dumps({"code": status, "message": reason}).encode()
    await _reply(send, status, body, media, extra_headers)
