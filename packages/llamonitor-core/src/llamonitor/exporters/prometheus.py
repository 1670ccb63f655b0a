"""Prometheus exporter: ``/metrics`` from its own registry, aggregated in the writer thread.

Enable it as in the seed README::

    config.extensions["prometheus"] = PrometheusConfig(enabled=True, port=8000).model_dump()
    await initialize_monitoring(config)

The writer thread folds each batch into plain dictionaries under one lock (a few µs per
event); a custom collector turns them into metric families only when Prometheus scrapes.
Each exporter has its own ``CollectorRegistry``, so two exporters (or tests) never collide.

Metrics (``namespace`` prefixes every name):

- ``llm_operations_total`` counter: operation_name, operation_type, model, agent
- ``llm_errors_total`` counter: the same labels plus error_type
- ``llm_operation_duration_seconds`` histogram: operation_name, operation_type, model, agent
- ``llm_text_characters_total`` counter: characters measured (measure_text)
- ``llm_tokens_total`` counter: the base labels plus token_type (input, output, cached, reasoning)
- ``llm_cost_usd`` histogram: cost per priced operation
- ``llm_queue_size`` / ``llm_buffer_size`` gauges: records waiting for the writer / events
  taken by the writer and not yet delivered to every sink
- ``llm_label_values_collapsed_total`` counter: label values reported as ``"other"``
- ``llm_exporter_events_skipped_total`` counter: stale events not counted (see ``_common``)
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
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
from llamonitor.exporters.prometheus_shared import PUBLISH_INTERVAL, SharedSnapshots, fork_folder, merge
from llamonitor.schema.config import MonitorConfig, PrometheusConfig
from llamonitor.schema.events import MetricEvent

logger = logging.getLogger("llamonitor")
BASE_LABELS = ("operation_name", "operation_type", "model", "agent")
Key = tuple[str, str, str, str]


class _Hist:
    """Bucket counts (not cumulative), sum and count of one label set."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self, n: int) -> None:
        self.buckets = [0] * (n + 1)  # last one is +Inf
        self.count = 0
        self.total = 0.0

    def observe(self, bounds: list[float], value: float) -> None:
        self.buckets[bisect_left(bounds, value)] += 1
        self.count += 1
        self.total += value


class _State:
    """Everything the collector reports; mutated by the writer, read by scrapes (one lock)."""

    def __init__(self, cfg: PrometheusConfig) -> None:
        self.lock = threading.Lock()
        self.limit = LabelLimiter(cfg.max_label_values)
        self.duration_bounds = list(cfg.duration_buckets)
        self.cost_bounds = list(cfg.cost_buckets)
        self.ops: dict[Key, int] = {}
        self.errors: dict[tuple[str, str, str, str, str], int] = {}
        self.chars: dict[Key, int] = {}
        self.tokens: dict[tuple[str, str, str, str, str], int] = {}
        self.duration: dict[Key, _Hist] = {}
        self.cost: dict[Key, _Hist] = {}
        #: raw (operation, type, model, agent) -> bounded label values
        self.keys: dict[tuple[str, str, str | None, str | None], Key] = {}

    def add(self, events: Sequence[MetricEvent]) -> None:
        limit = self.limit
        dbounds, cbounds = self.duration_bounds, self.cost_bounds
        ops, errors, chars, tokens = self.ops, self.errors, self.chars, self.tokens
        duration, cost = self.duration, self.cost
        cache = self.keys
        with self.lock:
            for e in events:
                raw = (e.operation_name, e.operation_type, request_model_of(e), agent_of(e))
                key = cache.get(raw)
                if key is None:
                    key = (limit("operation_name", raw[0]), limit("operation_type", raw[1]),
                           limit("model", raw[2]), limit("agent", raw[3]))
                    if OTHER not in key:  # collapsed values are looked up (and counted) every time
                        if len(cache) >= 10_000:
                            cache.clear()
                        cache[raw] = key
                ops[key] = ops.get(key, 0) + 1
                hist = duration.get(key)
                if hist is None:
                    hist = duration[key] = _Hist(len(dbounds))
                hist.observe(dbounds, max(0.0, e.duration_ms) / 1000.0)
                if e.error:
                    ekey = (*key, limit("error_type", e.error_type))
                    errors[ekey] = errors.get(ekey, 0) + 1
                n = chars_of(e)
                if n:
                    chars[key] = chars.get(key, 0) + n
                for kind, count in token_counts(e):
                    tkey = (*key, kind)
                    tokens[tkey] = tokens.get(tkey, 0) + count
                usd = cost_of(e)
                if usd is not None:
                    chist = cost.get(key)
                    if chist is None:
                        chist = cost[key] = _Hist(len(cbounds))
                    chist.observe(cbounds, usd)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "ops": dict(self.ops), "errors": dict(self.errors), "chars": dict(self.chars),
                "tokens": dict(self.tokens), "collapsed": dict(self.limit.collapsed),
                "duration": {k: (list(h.buckets), h.count, h.total) for k, h in self.duration.items()},
                "cost": {k: (list(h.buckets), h.count, h.total) for k, h in self.cost.items()},
            }


def _cumulative(bounds: list[float], buckets: list[int]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    running = 0
    for bound, n in zip([*map(_fmt, bounds), "+Inf"], buckets, strict=True):
        running += n
        out.append((bound, running))
    return out


def _fmt(value: float) -> str:
    return repr(float(value))


class _Collector:
    """A prometheus_client collector reading :class:`_State` at scrape time."""

    def __init__(self, exporter: PrometheusExporter) -> None:
        self.exporter = exporter

    def describe(self) -> list[Any]:
        return []  # unchecked collector: names are fixed and owned by this registry

    def collect(self) -> Iterator[Any]:
        core = require("prometheus_client.core", "prometheus")
        exp = self.exporter
        p = exp.prefix
        snap = exp.state.snapshot()
        queue, buffer = exp.queue_sizes()
        snap["gauges"] = {"queue": queue, "buffer": buffer}
        if exp.shared is not None:  # every other process's counts too (exporters/prometheus_shared.py)
            snap = merge(snap, exp.shared.others())
        labels = list(BASE_LABELS)

        ops = core.CounterMetricFamily(p + "llm_operations", "Monitored operations", labels=labels)
        for key, n in snap["ops"].items():
            ops.add_metric(list(key), n)
        yield ops
        errs = core.CounterMetricFamily(p + "llm_errors", "Operations that raised",
                                        labels=[*labels, "error_type"])
        for ekey, n in snap["errors"].items():
            errs.add_metric(list(ekey), n)
        yield errs
        chars = core.CounterMetricFamily(p + "llm_text_characters", "Characters processed (input and output)",
                                         labels=labels)
        for key, n in snap["chars"].items():
            chars.add_metric(list(key), n)
        yield chars
        toks = core.CounterMetricFamily(p + "llm_tokens", "Tokens by type (input, output, cached, reasoning)",
                                        labels=[*labels, "token_type"])
        for tkey, n in snap["tokens"].items():
            toks.add_metric(list(tkey), n)
        yield toks
        for name, doc, bounds, data in (
            ("llm_operation_duration_seconds", "Operation latency", exp.state.duration_bounds, snap["duration"]),
            ("llm_cost_usd", "Cost per priced operation in US dollars", exp.state.cost_bounds, snap["cost"]),
        ):
            hist = core.HistogramMetricFamily(p + name, doc, labels=labels)
            for key, (buckets, _count, total) in data.items():
                hist.add_metric(list(key), _cumulative(bounds, buckets), total)
            yield hist
        yield core.GaugeMetricFamily(p + "llm_queue_size", "Records waiting for the writer",
                                     value=snap["gauges"].get("queue", 0))
        yield core.GaugeMetricFamily(p + "llm_buffer_size",
                                     "Events taken by the writer and not yet delivered to every sink",
                                     value=snap["gauges"].get("buffer", 0))
        collapsed = core.CounterMetricFamily(p + "llm_label_values_collapsed",
                                             "Label values reported as 'other' (cardinality bound)",
                                             labels=["label"])
        for label, n in snap["collapsed"].items():
            collapsed.add_metric([label], n)
        yield collapsed
        skipped = core.CounterMetricFamily(p + "llm_exporter_events_skipped",
                                           "Events not counted: they ended before this exporter started")
        skipped.add_metric([], exp.exporter_stats().get("skipped_stale", 0))
        yield skipped


class PrometheusExporter(ExporterSink):
    """Serves the metrics of every written event on ``/metrics`` (see the module docs)."""

    name = "prometheus"

    def __init__(self, settings: PrometheusConfig | Mapping[str, Any], source: Any = None) -> None:
        super().__init__()
        if not isinstance(settings, PrometheusConfig):  # the seed passed its config dict
            source = settings if source is None else source
            settings = PrometheusConfig.model_validate(dict(settings))
        #: the configuration entry this exporter came from (a forking server's children read it)
        self._source = source
        #: other processes' counts, when several processes share one /metrics
        self.shared: SharedSnapshots | None = SharedSnapshots(settings.shared_dir) if settings.shared_dir else None
        self._publish_timer: threading.Timer | None = None
        client = require("prometheus_client", "prometheus")
        self.settings = settings
        self.prefix = f"{settings.namespace}_" if settings.namespace else ""
        self.state = _State(settings)
        #: this exporter's own registry (never prometheus_client's global REGISTRY)
        self.registry = client.CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        self._server: Any = None
        self._thread: threading.Thread | None = None
        #: the bound port once serving (useful with ``port=0``)
        self.port: int | None = None
        #: gauges set by :meth:`update_queue_metrics` (used while no writer owns this exporter)
        self._manual_sizes = (0, 0)

    @property
    def url(self) -> str | None:
        """``http://host:port/metrics`` once serving."""
        if self.port is None:
            return None
        host = self.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{host}:{self.port}/metrics"

    async def initialize(self) -> None:
        """Start the HTTP server; a bind failure is logged and counted, never raised."""
        client = require("prometheus_client", "prometheus")
        try:
            server, thread = client.start_http_server(self.settings.port, addr=self.settings.host,
                                                      registry=self.registry)
        except OSError as exc:
            if self.shared is not None:
                # Another process of this app serves /metrics; it merges what we publish.
                logger.info("llamonitor: prometheus port %s:%s is served by another process; this one (pid %d) "
                            "publishes its counts to %s", self.settings.host, self.settings.port, os.getpid(),
                            self.shared.folder)
                self._publish(force=True)
                return
            self.note_error("bind", OSError(f"cannot listen on {self.settings.host}:{self.settings.port} ({exc}); "
                                            "metrics are collected but not served (set shared_dir to merge the "
                                            "counts of several processes)"))
            return
        self._server, self._thread = server, thread
        self.port = int(server.server_port)
        _serving.add(self)

    def _publish(self, *, force: bool = False) -> None:
        shared = self.shared
        if shared is None:
            return
        queue, buffer = self.queue_sizes()
        try:
            written = shared.publish(self.state.snapshot(), {"queue": queue, "buffer": buffer}, force=force)
        except OSError as exc:
            self.note_error("publish", exc)
            return
        if not written and self._publish_timer is None:
            # Throttled: the last counts go out when the interval ends, even if no batch follows.
            timer = threading.Timer(PUBLISH_INTERVAL, self._publish_later)
            timer.daemon = True
            self._publish_timer = timer
            timer.start()

    def _publish_later(self) -> None:
        self._publish_timer = None
        self._publish(force=True)

    def share_with_forked_children(self) -> None:
        """Before a fork: make sure the children publish to a folder this process merges."""
        if self.shared is not None:
            return
        folder = fork_folder()
        self.shared = SharedSnapshots(folder)
        source = self._source
        if isinstance(source, dict):
            source["shared_dir"] = folder
        elif source is not None:
            source.shared_dir = folder

    def queue_sizes(self) -> tuple[int, int]:
        """(records waiting in the writer's queue, events the writer holds in flight)."""
        writer = self.writer
        if writer is None:
            return self._manual_sizes
        return len(writer.recorder), int(getattr(writer, "in_flight", 0))

    async def _export(self, events: Sequence[MetricEvent]) -> None:
        self._record(events)

    def _record(self, events: Sequence[MetricEvent]) -> None:
        self.state.add(events)
        if self.shared is not None and self._server is None:
            self._publish()

    def update_queue_metrics(self, queue_size: int, buffer_size: int) -> None:
        """Set the queue / buffer gauges (seed API). A writer that owns this exporter reports its
        live sizes instead."""
        self._manual_sizes = (max(0, int(queue_size)), max(0, int(buffer_size)))

    def health_check(self) -> dict[str, Any]:
        """The seed's keys (``healthy``, ``server_running``, ``metrics_exported``, ``endpoint``)
        plus :meth:`exporter_stats`."""
        out = super().health_check()
        out.update(server_running=self._server is not None, endpoint=self.url)
        return out

    def generate_latest(self) -> bytes:
        """The ``/metrics`` body (text format), without going through HTTP."""
        client = require("prometheus_client", "prometheus")
        return bytes(client.generate_latest(self.registry))

    def exporter_stats(self) -> dict[str, Any]:
        """Counters plus the serving address and label values collapsed to ``"other"``."""
        out = super().exporter_stats()
        out["serving"] = self.url
        with self.state.lock:
            out["label_values_collapsed"] = dict(self.state.limit.collapsed)
        return out

    async def close(self) -> None:
        """Stop the HTTP server (a publishing process writes its last counts first)."""
        _serving.discard(self)
        timer, self._publish_timer = self._publish_timer, None
        if timer is not None:
            timer.cancel()
        if self._server is None:
            self._publish(force=True)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def create_prometheus_exporter(config: MonitorConfig, settings: dict[str, Any]) -> PrometheusExporter:
    """Factory registered under ``extensions["prometheus"]``."""
    return PrometheusExporter(PrometheusConfig.model_validate(settings), source=settings)


#: exporters serving /metrics in this process (weakly held), told before the process forks
_serving: weakref.WeakSet[PrometheusExporter] = weakref.WeakSet()


def _before_fork() -> None:
    for exporter in list(_serving):
        try:
            exporter.share_with_forked_children()
        except Exception:  # never stop a fork
            logger.warning("llamonitor: could not set up a shared metrics folder before fork", exc_info=True)


if hasattr(os, "register_at_fork"):
    # a child serves nothing of its parent's: its own exporter (new writer) registers itself
    os.register_at_fork(before=_before_fork, after_in_child=_serving.clear)
