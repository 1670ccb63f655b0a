"""Datadog exporter: DogStatsD over UDP, or the HTTP metrics API.

Configured as in the seed README::

    config.extensions["datadog"] = DatadogConfig(enabled=True, api_key="...").model_dump()
    config.extensions["datadog"] = DatadogConfig(enabled=True, use_statsd=True).model_dump()

The writer thread only aggregates (counts summed per tag set, latency samples kept per tag
set, a uniform sample beyond ``max_samples_per_flush``). A flusher thread owned by the exporter
sends every ``submission_interval`` seconds, so neither the application's event loop nor the
writer (which also feeds storage) ever waits on the network:

- DogStatsD: one non-blocking, connected UDP socket; lines packed into datagrams of at most
  ``statsd_max_packet_bytes``. A full socket buffer or an absent agent drops the datagram and
  counts it.
- HTTP: counts to ``POST /api/v2/series`` (type count), latencies to
  ``POST /api/v1/distribution_points`` (type distribution), with the ``DD-API-KEY`` header.
  A failed request is counted and its points dropped (no retry: the next interval carries new
  counts; replaying would double them).

Metrics (``namespace`` defaults to ``llmops``): ``llmops.operations.count``,
``llmops.errors.count``, ``llmops.operation.duration.ms`` (distribution),
``llmops.characters.total``, ``llmops.cost.usd`` (count: dollars summed per interval),
``llmops.tokens.count`` (tag ``token_type``). Tags: ``operation_name``, ``model`` (the requested model), ``type``
(operation type), ``agent``, ``error_type`` (errors only) and the configured ``tags``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llamonitor.exporters._common import (
    OTHER,
    ExporterSink,
    LabelLimiter,
    agent_of,
    chars_of,
    cost_of,
    require,
    token_counts,
)
from llamonitor.exporters.genai_semconv import request_model_of
from llamonitor.schema.config import DatadogConfig, MonitorConfig
from llamonitor.schema.events import MetricEvent

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_\-.:/]")
_SERIES_PER_REQUEST = 500
Tags = tuple[str, ...]


def tag_value(value: str) -> str:
    """A tag value Datadog keeps as is (other characters become ``_``; at most 200 chars)."""
    return _TAG_UNSAFE.sub("_", value)[:200]


def _num(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    text = repr(float(value))
    return f"{value:.15f}".rstrip("0") if "e" in text else text


class _Sample:
    """A uniform sample (algorithm R) of at most ``k`` values and how many were seen."""

    __slots__ = ("seen", "values")

    def __init__(self) -> None:
        self.values: list[float] = []
        self.seen = 0

    def add(self, value: float, k: int, rnd: random.Random) -> None:
        self.seen += 1
        if len(self.values) < k:
            self.values.append(value)
        else:
            j = rnd.randrange(self.seen)
            if j < k:
                self.values[j] = value


class _Aggregate:
    """Counts and samples of one flush interval."""

    __slots__ = ("counts", "samples")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, Tags], float] = {}
        self.samples: dict[tuple[str, Tags], _Sample] = {}


class DatadogExporter(ExporterSink):
    """Aggregates events and sends them to DogStatsD or the Datadog HTTP API (module docs)."""

    name = "datadog"

    def __init__(self, settings: DatadogConfig | Mapping[str, Any], api_key: str | None = None,
                 service_name: str | None = None) -> None:
        super().__init__()
        if not isinstance(settings, DatadogConfig):  # the seed passed its config dict
            settings = DatadogConfig.model_validate(dict(settings))
        if api_key is None:
            api_key = settings.api_key.get_secret_value() if settings.api_key is not None else os.environ.get(
                "DD_API_KEY")
        self.settings = settings
        self._api_key = api_key
        self.mode = "statsd" if settings.use_statsd else "api"
        self.base_url = (settings.api_url or f"https://api.{settings.site}").rstrip("/")
        ns = settings.namespace
        self.m_ops, self.m_errors = f"{ns}.operations.count", f"{ns}.errors.count"
        self.m_duration, self.m_chars = f"{ns}.operation.duration.ms", f"{ns}.characters.total"
        self.m_cost, self.m_tokens = f"{ns}.cost.usd", f"{ns}.tokens.count"
        extra = list(settings.tags)
        if service_name and not any(t.startswith("service:") for t in extra):
            extra.append(f"service:{tag_value(service_name)}")
        self.global_tags: Tags = tuple(extra)
        self._limit = LabelLimiter(settings.max_tag_values)
        self._rnd = random.Random()
        self._tag_cache: dict[tuple[str, str | None, str, str | None], Tags] = {}
        self._agg = _Aggregate()
        self._agg_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._client: Any = None
        self._host = socket.gethostname()

    # -- lifecycle ------------------------------------------------------------------------------
    async def initialize(self) -> None:
        """Open the UDP socket or HTTP client and start the flusher thread."""
        s = self.settings
        if self.mode == "statsd":
            try:
                family, kind, proto, _, addr = socket.getaddrinfo(s.statsd_host, s.statsd_port,
                                                                  type=socket.SOCK_DGRAM)[0]
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                sock.connect(addr)  # connected: an absent agent is reported (ECONNREFUSED)
                self._sock = sock
            except OSError as exc:
                self.note_error("statsd_connect", exc)
        else:
            httpx = require("httpx", "datadog")
            self._client = httpx.Client(timeout=s.timeout_seconds, headers={
                "DD-API-KEY": self._api_key or "", "Content-Type": "application/json"})
        self._thread = threading.Thread(target=self._run, name="llamonitor-datadog", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Stop the flusher, send what is aggregated, release the socket / client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.settings.timeout_seconds * 4 + 5)
            self._thread = None
        self.flush()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _run(self) -> None:
        while not self._stop.wait(self.settings.submission_interval):
            try:
                self.flush()
            except Exception as exc:  # pragma: no cover - a bug; keep flushing
                self.note_error("flush", exc)

    # -- aggregation (writer thread) ------------------------------------------------------------
    async def _export(self, events: Sequence[MetricEvent]) -> None:
        self._record(events)

    def _record(self, events: Sequence[MetricEvent]) -> None:
        limit, rnd, k = self._limit, self._rnd, self.settings.max_samples_per_flush
        with self._agg_lock:
            counts, samples = self._agg.counts, self._agg.samples
            cache = self._tag_cache
            for e in events:
                raw = (e.operation_name, request_model_of(e), e.operation_type, agent_of(e))
                tags = cache.get(raw)
                if tags is None:
                    tags = self._tags(raw)
                key = (self.m_ops, tags)
                counts[key] = counts.get(key, 0) + 1
                skey = (self.m_duration, tags)
                sample = samples.get(skey)
                if sample is None:
                    sample = samples[skey] = _Sample()
                sample.add(max(0.0, e.duration_ms), k, rnd)
                if e.error:
                    ekey = (self.m_errors, (*tags, f"error_type:{tag_value(limit('error_type', e.error_type))}"))
                    counts[ekey] = counts.get(ekey, 0) + 1
                n = chars_of(e)
                if n:
                    ckey = (self.m_chars, tags)
                    counts[ckey] = counts.get(ckey, 0) + n
                usd = cost_of(e)
                if usd:
                    ukey = (self.m_cost, tags)
                    counts[ukey] = counts.get(ukey, 0) + usd
                for kind, tokens in token_counts(e):
                    tkey = (self.m_tokens, (*tags, f"token_type:{kind}"))
                    counts[tkey] = counts.get(tkey, 0) + tokens

    def _tags(self, raw: tuple[str, str | None, str, str | None]) -> Tags:
        limited = (self._limit("operation_name", raw[0]), self._limit("model", raw[1]),
                   self._limit("type", raw[2]), self._limit("agent", raw[3]))
        tags: Tags = (f"operation_name:{tag_value(limited[0])}", f"model:{tag_value(limited[1])}",
                      f"type:{tag_value(limited[2])}", f"agent:{tag_value(limited[3])}")
        if OTHER not in limited:  # collapsed values are looked up (and counted) every time
            if len(self._tag_cache) >= 10_000:
                self._tag_cache.clear()
            self._tag_cache[raw] = tags
        return tags

    # -- seed API -------------------------------------------------------------------------------
    async def submit_metrics(self) -> None:
        """Send what is aggregated now (the flusher also does every ``submission_interval``)."""
        await asyncio.to_thread(self.flush)

    def health_check(self) -> dict[str, Any]:
        """The seed's keys (``healthy``, ``use_statsd``, ``namespace``, ``cached_metrics``: series
        waiting for the next flush) plus :meth:`exporter_stats`."""
        out = super().health_check()
        with self._agg_lock:
            cached = len(self._agg.counts) + len(self._agg.samples)
        out.update(use_statsd=self.mode == "statsd", namespace=self.settings.namespace, cached_metrics=cached)
        return out

    # -- sending (flusher thread, or the writer at close) ---------------------------------------
    def flush(self) -> None:
        """Send what was aggregated since the last flush (called every ``submission_interval``)."""
        with self._send_lock:
            with self._agg_lock:
                agg, self._agg = self._agg, _Aggregate()
                collapsed = dict(self._limit.collapsed)
            with self._stats_lock:
                self._counters["tag_values_collapsed"] = sum(collapsed.values())
            if not agg.counts and not agg.samples:
                return
            self.count("flushes")
            if self.mode == "statsd":
                self._send_statsd(agg)
            else:
                self._send_api(agg)

    def statsd_lines(self, agg: _Aggregate) -> list[str]:
        """DogStatsD lines for one interval (counts ``|c``, latency ``|d`` with a sample rate)."""
        g = self.global_tags
        lines = [f"{metric}:{_num(value)}|c|#{','.join((*tags, *g))}" for (metric, tags), value in agg.counts.items()]
        for (metric, tags), sample in agg.samples.items():
            rate = len(sample.values) / sample.seen if sample.seen else 1.0
            suffix = f"|@{rate:.6f}" if rate < 1.0 else ""
            tag_text = ",".join((*tags, *g))
            lines.extend(f"{metric}:{_num(v)}|d{suffix}|#{tag_text}" for v in sample.values)
        return lines

    def _send_statsd(self, agg: _Aggregate) -> None:
        lines = self.statsd_lines(agg)
        sock = self._sock
        if sock is None:
            self.count("statsd_lines_dropped", len(lines))
            return
        for packet, n in _pack(lines, self.settings.statsd_max_packet_bytes):
            try:
                sock.send(packet)
            except BlockingIOError:
                self.count("statsd_packets_dropped")
                self.count("statsd_lines_dropped", n)
            except OSError as exc:
                self.note_error("statsd_send", exc)
                self.count("statsd_packets_dropped")
                self.count("statsd_lines_dropped", n)
            else:
                self.count("statsd_packets_sent")
                self.count("statsd_lines_sent", n)

    def api_payloads(self, agg: _Aggregate, now: int | None = None) -> tuple[list[dict[str, Any]],
                                                                           list[dict[str, Any]]]:
        """(``/api/v2/series`` entries, ``/api/v1/distribution_points`` entries) of an interval."""
        ts = int(time.time()) if now is None else now
        interval = max(1, round(self.settings.submission_interval))
        g = self.global_tags
        series = [{"metric": metric, "type": 1, "interval": interval,
                   "points": [{"timestamp": ts, "value": value}], "tags": [*tags, *g],
                   "resources": [{"type": "host", "name": self._host}]}
                  for (metric, tags), value in agg.counts.items()]
        dists = [{"metric": metric, "type": "distribution", "host": self._host, "tags": [*tags, *g],
                  "points": [[ts, list(sample.values)]]}
                 for (metric, tags), sample in agg.samples.items() if sample.values]
        for sample in agg.samples.values():
            if sample.seen > len(sample.values):
                self.count("samples_not_sent", sample.seen - len(sample.values))
        return series, dists

    def _send_api(self, agg: _Aggregate) -> None:
        series, dists = self.api_payloads(agg)
        for path, items, kind in (("/api/v2/series", series, "series"),
                                  ("/api/v1/distribution_points", dists, "distributions")):
            for start in range(0, len(items), _SERIES_PER_REQUEST):
                chunk = items[start:start + _SERIES_PER_REQUEST]
                if self._post(path, {"series": chunk}):
                    self.count(f"{kind}_sent", len(chunk))
                else:
                    self.count(f"{kind}_dropped", len(chunk))

    def _post(self, path: str, body: dict[str, Any]) -> bool:
        client = self._client
        if client is None:
            return False
        try:
            response = client.post(self.base_url + path, content=json.dumps(body, separators=(",", ":")))
        except Exception as exc:  # httpx.HTTPError, OSError: the message names the URL, never the key
            self.note_error("api_request", exc)
            return False
        if response.status_code >= 300:
            self.note_error("api_status", RuntimeError(f"HTTP {response.status_code} from {path}"))
            return False
        self.count("requests_sent")
        return True


def _pack(lines: Iterable[str], limit: int) -> Iterable[tuple[bytes, int]]:
    """Join lines with ``\\n`` into datagrams of at most ``limit`` bytes (a longer line alone)."""
    buf: list[bytes] = []
    size = 0
    for line in lines:
        data = line.encode("utf-8")
        extra = len(data) + (1 if buf else 0)
        if buf and size + extra > limit:
            yield b"\n".join(buf), len(buf)
            buf, size = [], 0
            extra = len(data)
        buf.append(data)
        size += extra
    if buf:
        yield b"\n".join(buf), len(buf)


def create_datadog_exporter(config: MonitorConfig, settings: dict[str, Any]) -> DatadogExporter:
    """Factory registered under ``extensions["datadog"]``; the API key may come from ``DD_API_KEY``."""
    cfg = DatadogConfig.model_validate(settings)
    key = cfg.api_key.get_secret_value() if cfg.api_key is not None else os.environ.get("DD_API_KEY")
    if not cfg.use_statsd and not key:
        raise ValueError("extensions['datadog']: api_key (or the DD_API_KEY environment variable) is required "
                         "for the HTTP API; set use_statsd=True to send to a local agent instead")
    return DatadogExporter(cfg, key, config.service_name)
