"""OTLP exporter: every event as an OpenTelemetry span, sent over OTLP/HTTP (protobuf).

Configured with::

    config.extensions["otlp"] = OTLPConfig(endpoint="http://127.0.0.1:4318/v1/traces").model_dump()

The writer thread only appends events to a bounded buffer; the exporter's sender thread
encodes ``ExportTraceServiceRequest`` messages (protobuf wire format written by
:mod:`llamonitor.exporters._otlp_wire`; ``opentelemetry-proto`` parses the responses) of at most
``max_spans_per_request`` spans and POSTs them with ``Content-Type: application/x-protobuf``.
A request answered 429 / 502 / 503 / 504, or whose connection failed, is sent again after a
jittered, doubling delay (``Retry-After`` honoured), at most ``max_export_attempts`` times; spans
beyond the buffer's bound, and spans of a request that still failed, are dropped and counted.
The standard ``OTEL_EXPORTER_OTLP_*``, ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``
variables fill the settings the configuration left at their defaults (:mod:`.otel_env`).

Mapping (OpenTelemetry GenAI semantic conventions, :mod:`.genai_semconv`): span name
``{operation} {model}`` / ``execute_tool {tool}`` / ``invoke_agent {agent}``; kind CLIENT for
model calls, INTERNAL for tools, agents and workflows; ``gen_ai.operation.name`` (the
convention's value), ``gen_ai.tool.name`` / ``gen_ai.tool.call.id``, ``gen_ai.conversation.id``,
``gen_ai.response.finish_reasons`` (array), content messages only when captured,
``gen_ai.request.model`` (the event's ``model``: what was asked) apart from ``gen_ai.response.model``
(its ``response_model``: what answered), ``gen_ai.system`` and ``gen_ai.provider.name``,
``gen_ai.usage.*``, ``gen_ai.agent.name`` / ``gen_ai.agent.id``, ``session.id``, ``error.type``
(status ERROR with the message). Our ids are hex (32 digits for traces, 16 for spans) and are
used as bytes; other ids (adapter-provided) are mapped by SHA-256, the same way for a span and
for the parent references to it, and the original is kept in ``llamonitor.trace_id`` /
``llamonitor.span_id`` / ``llamonitor.parent_span_id``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from llamonitor.exporters._common import ExporterSink, require
from llamonitor.exporters._otlp_wire import WireEncoder
from llamonitor.exporters.genai_semconv import (
    CONSUMED_KEYS,
    genai_attributes,
    operation_of,
    request_model_of,
    response_model_of,
    span_kind,
    span_name,
)
from llamonitor.exporters.otel_env import otlp_settings_from_env, service_name_from_env
from llamonitor.schema.config import MonitorConfig, OTLPConfig
from llamonitor.schema.events import MetricEvent

#: ``Span.SpanKind`` values of trace.proto
SPAN_KIND_INTERNAL, SPAN_KIND_CLIENT = 1, 3
_MAX_ATTR_CHARS = 4096
#: answers worth sending the same request again for (the OTLP specification's list)
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})

__all__ = ["OTLPExporter", "create_otlp_exporter", "otel_id", "otlp_settings_from_env"]


def otel_id(value: str, width: int) -> tuple[bytes, bool]:
    """``(id bytes, mapped)``: hex ids of ``width`` bytes as is, anything else by SHA-256."""
    if len(value) == width * 2:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if len(raw) == width and any(raw):
            return raw, False
    return _hashed(value, width), True


@lru_cache(maxsize=16_384)
def _hashed(value: str, width: int) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()[:width]


def _version() -> str:
    try:
        from llamonitor import __version__

        return __version__
    except Exception:  # pragma: no cover
        return "unknown"


class OTLPExporter(ExporterSink):
    """Sends every event as an OTLP span (see the module docs)."""

    name = "otlp"
    skip_stale = False  # spans keep their own timestamps and ids: replaying them is correct

    def __init__(self, settings: OTLPConfig, service_name: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._pb_service = require("opentelemetry.proto.collector.trace.v1.trace_service_pb2", "otlp")
        self.service_name = service_name or settings.service_name
        self._pending: deque[MetricEvent] = deque()
        self._max_pending = settings.max_pending_requests * settings.max_spans_per_request
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._wire = WireEncoder(_MAX_ATTR_CHARS)
        self._resource_attrs: dict[str, Any] = {
            "telemetry.sdk.name": "llamonitor", "telemetry.sdk.language": "python",
            "telemetry.sdk.version": _version(), **settings.resource_attributes,
            "service.name": self.service_name}

    # -- lifecycle ------------------------------------------------------------------------------
    async def initialize(self) -> None:
        """Open the HTTP client and start the sender thread."""
        httpx = require("httpx", "otlp")
        headers = {**self.settings.headers, "Content-Type": "application/x-protobuf"}
        if self.settings.compression == "gzip":
            headers["Content-Encoding"] = "gzip"
        self._client = httpx.Client(timeout=self.settings.timeout_seconds, headers=headers)
        self._thread = threading.Thread(target=self._run, name="llamonitor-otlp", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Send what is buffered (bounded by the time-out), then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.settings.timeout_seconds * 2 + 5)
            self._thread = None
        left = len(self._pending)
        if left:
            self._pending.clear()
            self.count("spans_dropped", left)
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- writer side ----------------------------------------------------------------------------
    async def _export(self, events: Sequence[MetricEvent]) -> None:
        room = self._max_pending - len(self._pending)
        if room < len(events):
            self.count("spans_dropped", len(events) - max(room, 0))
            events = events[:max(room, 0)]
        self._pending.extend(events)
        self._wake.set()

    # -- sender thread --------------------------------------------------------------------------
    def _run(self) -> None:
        pending, size = self._pending, self.settings.max_spans_per_request
        deadline: float | None = None
        while True:
            if self._stop.is_set():
                # Shutting down: send what is buffered, but give up after timeout_seconds.
                if deadline is None:
                    deadline = time.monotonic() + self.settings.timeout_seconds
                elif time.monotonic() > deadline and pending:
                    left = len(pending)
                    pending.clear()
                    self.count("spans_dropped", left)
            if not pending:
                if self._stop.is_set():
                    return
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            batch = [pending.popleft() for _ in range(min(size, len(pending)))]
            try:
                body = self.encode(batch)
            except Exception as exc:
                self.note_error("encode", exc)
                self.count("spans_dropped", len(batch))
                continue
            self._send(body, len(batch))

    def _retry_delay(self, attempt: int, retry_after: str | None) -> float:
        """Full-jitter exponential backoff; a numeric ``Retry-After`` is honoured up to the cap."""
        cap = self.settings.retry_max_backoff_seconds
        if retry_after is not None:
            try:
                return min(cap, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        return random.uniform(0, min(cap, self.settings.retry_backoff_seconds * (2 ** attempt)))

    def _post(self, client: Any, body: bytes) -> Any:
        """POST with bounded retries; returns the last response, or raises the last connection error.

        No retry once the exporter is closing: ``close`` waits only ``timeout_seconds`` for us.
        """
        attempts = self.settings.max_export_attempts
        for attempt in range(attempts):
            last = attempt == attempts - 1 or self._stop.is_set()
            retry_after: str | None = None
            try:
                response = client.post(self.settings.endpoint, content=body)
            except Exception:
                if last:
                    raise
            else:
                if response.status_code not in RETRYABLE_STATUS or last:
                    return response
                retry_after = response.headers.get("retry-after")
            self.count("retries")
            time.sleep(self._retry_delay(attempt, retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, body: bytes, n: int) -> None:
        client = self._client
        if client is None:
            self.count("spans_dropped", n)
            return
        if self.settings.compression == "gzip":
            body = gzip.compress(body, compresslevel=5)
        try:
            response = self._post(client, body)
        except Exception as exc:  # the message names the endpoint, never the headers
            self.note_error("request", exc)
            self.count("spans_dropped", n)
            return
        if response.status_code >= 300:
            self.note_error("status", RuntimeError(f"HTTP {response.status_code} from the OTLP endpoint"))
            self.count("spans_dropped", n)
            return
        rejected = 0
        try:
            parsed = self._pb_service.ExportTraceServiceResponse.FromString(response.content)
            rejected = int(parsed.partial_success.rejected_spans)
        except Exception:
            pass  # a collector may answer with an empty or JSON body
        self.count("requests_sent")
        self.count("spans_sent", n - rejected)
        if rejected:
            self.count("spans_rejected", rejected)

    # -- encoding -------------------------------------------------------------------------------
    def span_attributes(self, e: MetricEvent) -> dict[str, Any]:
        """The attributes of an event's span (GenAI conventions first, then ours, then custom)."""
        op = operation_of(e)
        a: dict[str, Any] = {"gen_ai.operation.name": op}
        custom = e.custom_attributes
        # request and response model kept apart (span name and request model: what was asked)
        a["gen_ai.request.model"] = request_model_of(e)
        a["gen_ai.response.model"] = response_model_of(e)
        if e.provider:
            a["gen_ai.system"] = e.provider
            a["gen_ai.provider.name"] = e.provider
        u, tm = e.usage, e.text_metrics
        inp = u.input_tokens if u is not None and u.input_tokens is not None else (tm.input_tokens if tm else None)
        out = u.output_tokens if u is not None and u.output_tokens is not None else (tm.output_tokens if tm else None)
        a["gen_ai.usage.input_tokens"] = inp
        a["gen_ai.usage.output_tokens"] = out
        if u is not None:
            a["gen_ai.usage.cache_read.input_tokens"] = u.cached_input_tokens
            a["gen_ai.usage.cache_creation.input_tokens"] = u.cache_creation_input_tokens
            a["gen_ai.usage.reasoning.output_tokens"] = u.reasoning_tokens
            a["llamonitor.usage.source"] = u.source
        ag = e.agent
        if ag is not None:
            a["gen_ai.agent.name"] = ag.agent_name
            a["gen_ai.agent.id"] = ag.agent_id
            a["llamonitor.agent.framework"] = ag.framework
            a["llamonitor.agent.role"] = ag.agent_role
            a["llamonitor.agent.task"] = ag.task
            a["llamonitor.agent.graph_node"] = ag.graph_node
            a["llamonitor.agent.handoff_from"] = ag.handoff_from
        a["session.id"] = e.session_id
        if e.error:
            a["error.type"] = e.error_type or "error"
        a["llamonitor.event_id"] = e.event_id
        a["llamonitor.duration_ms"] = e.duration_ms
        if e.cost is not None:
            a["llamonitor.cost.usd"] = e.cost.total_cost_usd
            a["llamonitor.cost.price_source"] = e.cost.price_source
        if tm is not None:
            a["llamonitor.text.char_count"] = tm.char_count
            a["llamonitor.text.word_count"] = tm.word_count
        a.update(genai_attributes(e, op, openinference=self.settings.openinference))
        for key, value in custom.items():
            if key not in a and key not in CONSUMED_KEYS:
                a[key] = value
        return a

    def encode(self, events: Sequence[MetricEvent]) -> bytes:
        """One serialized ``ExportTraceServiceRequest`` holding ``events`` as spans."""
        wire = self._wire
        spans = []
        for e in events:
            trace_id, trace_mapped = otel_id(e.trace_id or e.event_id, 16)
            span_id, span_mapped = otel_id(e.span_id, 8)
            attrs = self.span_attributes(e)
            op = attrs["gen_ai.operation.name"]
            parent = None
            if e.parent_span_id:
                parent, parent_mapped = otel_id(e.parent_span_id, 8)
                if parent_mapped:
                    attrs["llamonitor.parent_span_id"] = e.parent_span_id
            if trace_mapped:
                attrs["llamonitor.trace_id"] = e.trace_id
            if span_mapped:
                attrs["llamonitor.span_id"] = e.span_id
            start = max(0, e.start_time_ns)
            spans.append(wire.span(
                trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=span_name(e, op),
                kind=span_kind(op),
                start_ns=start, end_ns=max(start, e.end_time_ns), attrs=attrs,
                error_message=(e.error_message or e.error_type or "error") if e.error else None))
        return wire.request(self._resource_attrs, "llamonitor", _version(), spans)


def create_otlp_exporter(config: MonitorConfig, settings: dict[str, Any],
                         environ: Mapping[str, str] | None = None) -> OTLPExporter:
    """Factory registered under ``extensions["otlp"]``; ``environ`` (default ``os.environ``) supplies
    the ``OTEL_*`` variables.

    The service name is ``MonitorConfig.service_name``, else a non-default
    ``OTLPConfig.service_name``, else ``OTEL_SERVICE_NAME`` (or ``service.name`` in
    ``OTEL_RESOURCE_ATTRIBUTES``), else ``"llamonitor"``.
    """
    env = os.environ if environ is None else environ
    cfg = otlp_settings_from_env(OTLPConfig.model_validate(settings), env)
    explicit = cfg.service_name if cfg.service_name != OTLPConfig().service_name else None
    return OTLPExporter(cfg, config.service_name or explicit or service_name_from_env(env) or cfg.service_name)
