"""Anomaly detection on recorded events (seed import: ``llmops_monitoring.anomaly``).

Baselines are trained per operation and metric (``duration_ms``, ``total_tokens``,
``char_count``, ``total_cost_usd``, over successful events) and per operation for the error
rate. Three methods, each turning its deviation into ``r`` = deviation / threshold (``r > 1``
means anomalous) and ``anomaly_score = 1 - 1 / r**2`` (0 at the threshold, 0.75 at twice it,
0.9 at about 3.2 times it):

* ``z_score``: ``z = (value - mean) / scale`` and ``r = |z| / z_threshold`` (default 3 sd);
* ``iqr``: distance beyond the quartiles in IQR units, ``r = d / iqr_multiplier`` (default 1.5);
* ``error_rate``: the error rate of the last ``error_window`` calls of an operation (at least
  ``min_error_samples``), ``r = rate / limit`` with ``limit = max(error_rate_threshold, 2 x the
  trained error rate)`` (default threshold 10 %).

``scale`` (and the IQR) never drops below ``relative_tolerance`` (10 %) of the baseline's centre or
a small per-metric floor, so a constant baseline never divides by zero and identical values never
alert. Severity: LOW < 0.5 <= MEDIUM < 0.7 <= HIGH < 0.9 <= CRITICAL; HIGH and CRITICAL call the
``alert_callback``. :meth:`AnomalyDetectionService.attach` feeds the service from the writer, so
alerts fire while the batch holding the anomaly is being written.

Custom detectors (the seed's extension point): subclass :class:`AnomalyDetector` (``fit(events)``,
``detect(events) -> [AnomalyResult]``) and pass ``detectors=[...]`` to the service, which then
trains and runs those instead of its built-in methods (pass ``methods=`` too to keep them) and
keeps the highest-scoring result per event and metric. :class:`ZScoreDetector`,
:class:`IQRDetector` and :class:`ErrorRateDetector` are the built-in methods as detectors.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

from llamonitor.analytics.agents.models import gc_paused
from llamonitor.analytics.anomaly_types import (
    METHODS,
    METRIC_FLOORS,
    METRICS,
    AnomalyResult,
    AnomalySeverity,
    ErrorBaseline,
    MetricBaseline,
    read_standard,
    score_from_ratio,
)
from llamonitor.analytics.listener import WriterListener
from llamonitor.schema.events import MetricEvent, ns_to_datetime

__all__ = [
    "METHODS",
    "METRICS",
    "METRIC_FLOORS",
    "AnomalyDetectionService",
    "AnomalyDetector",
    "AnomalyResult",
    "AnomalySeverity",
    "ErrorBaseline",
    "ErrorRateDetector",
    "IQRDetector",
    "MetricBaseline",
    "ZScoreDetector",
    "score_from_ratio",
]

logger = logging.getLogger("llamonitor")
_start_ns = attrgetter("start_time_ns")


class _ErrorWindow:
    """Sliding error window of one operation, with burst state (one result per burst and severity)."""

    __slots__ = ("in_burst", "peak", "peak_event", "reported", "window")

    def __init__(self, size: int) -> None:
        self.window: deque[bool] = deque(maxlen=size)
        self.in_burst = False
        self.peak = 0.0
        self.peak_event: MetricEvent | None = None
        self.reported: AnomalySeverity | None = None


class AnomalyDetectionService(WriterListener):
    """Trains baselines, detects anomalies and alerts (see the module doc for every formula).

    ``alert_callback(result)`` runs for HIGH and CRITICAL results (a coroutine function is
    awaited); its exceptions are logged, never raised. A list of detectors as the first
    positional argument is taken as ``detectors`` (the seed's argument order).
    """

    def __init__(self, alert_callback: Callable[[AnomalyResult], Any] | None = None, *,
                 z_threshold: float = 3.0, iqr_multiplier: float = 1.5, error_rate_threshold: float = 0.10,
                 min_baseline_size: int = 10, reliable_baseline_size: int = 30, min_error_samples: int = 20,
                 error_window: int = 50, relative_tolerance: float = 0.10,
                 methods: Iterable[str] | None = None, metrics: Iterable[str] | None = None,
                 alert_severities: Iterable[AnomalySeverity] = (AnomalySeverity.HIGH, AnomalySeverity.CRITICAL),
                 history_size: int = 1000, detectors: Iterable[AnomalyDetector] | None = None) -> None:
        first: Any = alert_callback
        if first is not None and not callable(first) and detectors is None:
            detectors, alert_callback = first, None  # the seed's order: AnomalyDetectionService(detectors)
        #: custom detectors (see the module doc); when given, ``methods`` defaults to none
        self.detectors: list[AnomalyDetector] = list(detectors) if detectors is not None else []
        self.methods = tuple(methods) if methods is not None else (() if detectors is not None else METHODS)
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown method(s) {sorted(unknown)}; use {', '.join(METHODS)}")
        self.metrics = tuple(metrics) if metrics is not None else tuple(METRICS)
        if set(self.metrics) - set(METRICS):
            raise ValueError(f"unknown metric(s) {sorted(set(self.metrics) - set(METRICS))}; use {', '.join(METRICS)}")
        if z_threshold <= 0 or iqr_multiplier <= 0 or not 0 < error_rate_threshold < 1:
            raise ValueError("z_threshold and iqr_multiplier must be positive, error_rate_threshold in (0, 1)")
        self.alert_callback = alert_callback
        self.z_threshold = z_threshold
        self.iqr_multiplier = iqr_multiplier
        self.error_rate_threshold = error_rate_threshold
        self.min_baseline_size = max(1, min_baseline_size)
        self.reliable_baseline_size = reliable_baseline_size
        self.min_error_samples = max(1, min_error_samples)
        self.error_window = max(self.min_error_samples, error_window)
        self.relative_tolerance = relative_tolerance
        self.alert_severities = frozenset(alert_severities)
        self.baselines: dict[tuple[str, str], MetricBaseline] = {}
        self.error_baselines: dict[str, ErrorBaseline] = {}
        #: recent alerted results (newest last)
        self.alerts: deque[AnomalyResult] = deque(maxlen=history_size)
        #: (operation, metric) pairs seen by the last detect without a usable baseline, with counts
        self.skipped: dict[tuple[str, str], int] = {}
        self._stream_windows: dict[str, _ErrorWindow] = {}
        self._fitted = False
        self._lock = threading.RLock()
        self._attached: list[Any] = []
        #: events checked, anomalies found and alert callbacks run (the seed's counters)
        self.detection_stats: dict[str, int] = {"total_checked": 0, "anomalies_found": 0, "alerts_sent": 0}
        #: events of the last training
        self.training_size = 0

    # -- training --------------------------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        """Whether any baseline exists (or custom detectors were fitted)."""
        return bool(self.baselines or self.error_baselines or self._fitted)

    def train_sync(self, events: Iterable[MetricEvent]) -> dict[str, Any]:
        """Synchronous :meth:`train`."""
        if not self.detectors:
            summary = self._train(events)
            self.training_size = summary["events"]
            return summary
        events = list(events)
        summary = self._train(events)
        for d in self.detectors:
            try:
                d.fit(events)
            except Exception:
                logger.exception("llamonitor: anomaly detector %s failed to fit", type(d).__name__)
        self._fitted = True
        self.training_size = summary["events"]
        return summary

    @gc_paused
    def _train(self, events: Iterable[MetricEvent]) -> dict[str, Any]:
        values: dict[tuple[str, str], list[float]] = {}
        counts: dict[str, list[int]] = {}
        names = self.metrics
        readers = [METRICS[m] for m in names]
        standard = names == tuple(METRICS)
        # per operation: its counts and, per metric, the list of values (created on the first value,
        # so ``values`` keeps the order in which (operation, metric) pairs first had one)
        per_op: dict[str, tuple[list[int], list[list[float] | None]]] = {}
        for e in events:
            op = e.operation_name
            slot = per_op.get(op)
            if slot is None:
                c = counts[op] = [0, 0]
                slot = per_op[op] = (c, [None] * len(readers))
            c, lists = slot
            c[0] += 1
            if e.error:
                c[1] += 1
                continue
            got = read_standard(e) if standard else [read(e) for read in readers]
            for j, v in enumerate(got):
                if v is not None:
                    xs = lists[j]
                    if xs is None:
                        xs = lists[j] = values[(op, names[j])] = []
                    xs.append(v)
        with self._lock:
            for (op, metric), xs in values.items():
                self.baselines[(op, metric)] = MetricBaseline.from_values(op, metric, xs)
            for op, (n, errors) in counts.items():
                self.error_baselines[op] = ErrorBaseline(op, n, errors)
        return {"operations": len(counts), "baselines": len(values), "events": sum(c[0] for c in counts.values())}

    async def train(self, events: Iterable[MetricEvent]) -> dict[str, Any]:
        """Learn (or update, per operation and metric) the baselines from historical ``events``."""
        return self.train_sync(events)

    async def retrain(self, events: Iterable[MetricEvent]) -> dict[str, Any]:
        """Forget every baseline and streaming window, then :meth:`train` on ``events``."""
        with self._lock:
            self.baselines.clear()
            self.error_baselines.clear()
            self._stream_windows.clear()
            self._fitted = False
        return self.train_sync(events)

    # -- detection -------------------------------------------------------------------------------
    def _scale(self, metric: str, raw: float, centre: float, factor: float = 1.0) -> float:
        # factor 1.349 for the IQR: the IQR of a normal distribution is 1.349 sd, so both methods
        # apply the same relative tolerance to a constant baseline.
        return max(raw, factor * self.relative_tolerance * abs(centre), factor * METRIC_FLOORS.get(metric, 1e-9))

    def _bounds(self) -> dict[tuple[str, str], tuple[MetricBaseline, float, float]]:
        """Per baseline, the value range no enabled method flags (checked before scoring)."""
        out: dict[tuple[str, str], tuple[MetricBaseline, float, float]] = {}
        for key, base in self.baselines.items():
            if base.count < self.min_baseline_size:
                continue
            lo, hi = -math.inf, math.inf
            if "z_score" in self.methods:
                sd = self._scale(base.metric_name, base.stdev, base.mean)
                lo, hi = max(lo, base.mean - self.z_threshold * sd), min(hi, base.mean + self.z_threshold * sd)
            if "iqr" in self.methods:
                spread = self._scale(base.metric_name, base.iqr, base.median, 1.349)
                lo = max(lo, base.q1 - self.iqr_multiplier * spread)
                hi = min(hi, base.q3 + self.iqr_multiplier * spread)
            out[key] = (base, lo, hi)
        return out

    def _check_value(self, e: MetricEvent, metric: str, value: float, base: MetricBaseline) -> AnomalyResult | None:
        found: list[tuple[float, str, float, float, float, float]] = []  # score, method, dev, expected, spread, thr
        if "z_score" in self.methods:
            sd = self._scale(metric, base.stdev, base.mean)
            z = (value - base.mean) / sd
            r = abs(z) / self.z_threshold
            if r > 1.0:
                found.append((score_from_ratio(r), "z_score", z, base.mean, sd, self.z_threshold))
        if "iqr" in self.methods:
            spread = self._scale(metric, base.iqr, base.median, 1.349)
            if value > base.q3:
                d = (value - base.q3) / spread
            elif value < base.q1:
                d = (value - base.q1) / spread
            else:
                d = 0.0
            r = abs(d) / self.iqr_multiplier
            if r > 1.0:
                found.append((score_from_ratio(r), "iqr", d, base.median, spread, self.iqr_multiplier))
        if not found:
            return None
        found.sort(key=lambda f: -f[0])
        score, method, dev, expected, spread, thr = found[0]
        # the seed's detail names (its examples print these when present)
        seed: dict[str, float] = {"value": value, "mean": base.mean, "stdev": base.stdev}
        for f in found:
            if f[1] == "z_score":
                seed["z_score"] = abs(f[2])
        return AnomalyResult(
            operation_name=e.operation_name, metric_name=metric, severity=AnomalySeverity.from_score(score),
            anomaly_score=score, method=method, value=value, expected=expected, deviation=dev, threshold=thr,
            spread=spread, baseline_size=base.count, timestamp=ns_to_datetime(e.start_time_ns), event_id=e.event_id,
            session_id=e.session_id, trace_id=e.trace_id,
            details={"methods": {f[1]: round(f[2], 4) for f in found}, "baseline_size": base.count,
                     "small_baseline": base.count < self.reliable_baseline_size,
                     "baseline_mean": base.mean, "baseline_stdev": base.stdev, "baseline_median": base.median,
                     "baseline_iqr": base.iqr, **seed})

    def _error_result(self, op: str, w: _ErrorWindow, limit: float, expected: float) -> AnomalyResult | None:
        r = w.peak / limit
        score = score_from_ratio(r)
        severity = AnomalySeverity.from_score(score)
        if w.reported is not None and severity.rank <= w.reported.rank:
            return None
        w.reported = severity
        e = w.peak_event
        return AnomalyResult(
            operation_name=op, metric_name="error_rate", severity=severity, anomaly_score=score, method="error_rate",
            value=w.peak, expected=expected, deviation=r, threshold=self.error_rate_threshold, spread=limit,
            baseline_size=self.error_baselines[op].count if op in self.error_baselines else 0,
            timestamp=ns_to_datetime(e.start_time_ns) if e else None, event_id=e.event_id if e else None,
            session_id=e.session_id if e else None, trace_id=e.trace_id if e else None,
            details={"window": len(w.window), "errors_in_window": sum(w.window), "limit": limit})

    def _check_errors(self, events: Sequence[MetricEvent], windows: dict[str, _ErrorWindow]) -> list[AnomalyResult]:
        results: list[AnomalyResult] = []
        by_op: dict[str, list[MetricEvent]] = defaultdict(list)
        for e in events:
            by_op[e.operation_name].append(e)
        for op, evs in by_op.items():
            w = windows.get(op)
            if w is None:
                w = windows[op] = _ErrorWindow(self.error_window)
            base = self.error_baselines.get(op)
            expected = base.rate if base is not None and base.count >= self.min_error_samples else 0.0
            limit = max(self.error_rate_threshold, 2 * expected)
            window = w.window
            size = window.maxlen
            min_samples = self.min_error_samples
            errors = sum(window)
            n = len(window)
            for e in sorted(evs, key=_start_ns):
                if n == size:
                    if window[0]:
                        errors -= 1
                else:
                    n += 1
                window.append(e.error)
                errors += e.error
                if n < min_samples:
                    continue
                rate = errors / n
                if rate > limit:
                    if not w.in_burst or rate > w.peak:
                        w.peak, w.peak_event = rate, e
                    w.in_burst = True
                elif w.in_burst:
                    res = self._error_result(op, w, limit, expected)
                    if res is not None:
                        results.append(res)
                    w.in_burst, w.peak, w.peak_event, w.reported = False, 0.0, None, None
            if w.in_burst:
                res = self._error_result(op, w, limit, expected)
                if res is not None:
                    results.append(res)
        return results

    @gc_paused
    def _detect(self, events: Sequence[MetricEvent], windows: dict[str, _ErrorWindow]) -> list[AnomalyResult]:
        results: list[AnomalyResult] = []
        skipped: dict[tuple[str, str], int] = defaultdict(int)
        names = self.metrics
        readers = [METRICS[m] for m in names]
        standard = names == tuple(METRICS)
        value_methods = "z_score" in self.methods or "iqr" in self.methods
        with self._lock:
            bounds = self._bounds()
            if value_methods:
                # per operation, per metric: (metric, baseline, low, high) or (metric, None, 0, 0)
                per_op: dict[str, list[tuple[str, MetricBaseline | None, float, float]]] = {}
                for e in events:
                    if e.error:
                        continue
                    op = e.operation_name
                    limits = per_op.get(op)
                    if limits is None:
                        limits = per_op[op] = []
                        for m in names:
                            b = bounds.get((op, m))
                            limits.append((m, None, 0.0, 0.0) if b is None else (m, b[0], b[1], b[2]))
                    got = read_standard(e) if standard else [read(e) for read in readers]
                    for v, (metric, base, lo, hi) in zip(got, limits, strict=True):
                        if v is None:
                            continue
                        if base is None:
                            skipped[(op, metric)] += 1
                            continue
                        if lo <= v <= hi:  # inside every method's limits: the common case
                            continue
                        res = self._check_value(e, metric, v, base)
                        if res is not None:
                            results.append(res)
            if "error_rate" in self.methods:
                results.extend(self._check_errors(events, windows))
            self.skipped = dict(skipped)
        if self.detectors:
            results = self._with_detectors(events, results)
        with self._lock:
            stats = self.detection_stats
            stats["total_checked"] += len(events)
            stats["anomalies_found"] += len(results)
        return results

    def _with_detectors(self, events: Sequence[MetricEvent], results: list[AnomalyResult]) -> list[AnomalyResult]:
        """``results`` plus every custom detector's, keeping the best score per event and metric."""
        for d in self.detectors:
            try:
                results.extend(d.detect(events))
            except Exception:
                logger.exception("llamonitor: anomaly detector %s failed", type(d).__name__)
        best: dict[tuple[Any, ...], AnomalyResult] = {}
        for r in results:
            # results naming neither event nor time (a seed-style detector) are never merged
            at = r.event_id if r.event_id is not None else (r.timestamp if r.timestamp is not None else id(r))
            key = (r.operation_name, r.metric_name, at)
            kept = best.get(key)
            if kept is None or r.anomaly_score > kept.anomaly_score:
                best[key] = r
        return list(best.values())

    def _alert(self, results: Sequence[AnomalyResult]) -> list[Any]:
        pending: list[Any] = []
        for res in results:
            if res.severity not in self.alert_severities:
                continue
            self.alerts.append(res)
            if self.alert_callback is None:
                continue
            try:
                out = self.alert_callback(res)
                if inspect.isawaitable(out):
                    pending.append(self._counted(out))
                else:
                    self._alert_sent()
            except Exception:
                logger.exception("llamonitor: anomaly alert callback failed")
        return pending

    def _alert_sent(self) -> None:
        with self._lock:
            self.detection_stats["alerts_sent"] += 1

    async def _counted(self, aw: Any) -> None:
        await aw  # a callback that raises is logged by whoever awaits this, and not counted
        self._alert_sent()

    def get_stats(self) -> dict[str, Any]:
        """The seed's statistics: ``total_checked`` (events given to detect), ``anomalies_found``,
        ``alerts_sent`` (alert callbacks that completed), ``is_trained``, ``detectors`` (the seed's
        class name of each method that runs, then each custom detector's) and ``training_size``
        (events of the last training)."""
        names = {"z_score": "ZScoreDetector", "iqr": "IQRDetector", "error_rate": "ErrorRateDetector"}
        with self._lock:
            stats: dict[str, Any] = dict(self.detection_stats)
        stats["is_trained"] = self.is_trained
        stats["detectors"] = [names[m] for m in self.methods] + [type(d).__name__ for d in self.detectors]
        stats["training_size"] = self.training_size
        return stats

    def detect_sync(self, events: Sequence[MetricEvent]) -> list[AnomalyResult]:
        """Synchronous :meth:`detect` (coroutine callbacks run to completion here)."""
        results = self._detect(events, {})
        for aw in self._alert(results):
            _run_awaitable(aw)
        return results

    async def detect(self, events: Sequence[MetricEvent]) -> list[AnomalyResult]:
        """Anomalies in ``events`` against the trained baselines, alerting HIGH / CRITICAL ones.

        Value methods check each successful event; the error rate is computed over sliding windows
        of each operation's calls in ``events`` (one result per burst). Operations or metrics with
        fewer than ``min_baseline_size`` training values are skipped and counted in :attr:`skipped`.
        """
        results = self._detect(events, {})
        for aw in self._alert(results):
            try:
                await aw
            except Exception:
                logger.exception("llamonitor: anomaly alert callback failed")
        return results

    # -- streaming -------------------------------------------------------------------------------
    def process_batch(self, events: Sequence[MetricEvent]) -> list[AnomalyResult]:
        """Streaming step: detect in one batch, keeping error windows across batches, and alert."""
        try:
            results = self._detect(events, self._stream_windows)
            for aw in self._alert(results):
                _run_awaitable(aw)
            return results
        except Exception:
            logger.exception("llamonitor: streaming anomaly detection failed")
            return []


    def attach_to_monitoring(self) -> Any:
        """:meth:`attach` to the active writer."""
        return self.attach(None)


    def get_baseline(self, operation_name: str, metric_name: str) -> MetricBaseline | None:
        """The trained baseline of one operation and metric."""
        return self.baselines.get((operation_name, metric_name))


class AnomalyDetector(ABC):
    """A detector the service can run (the seed's base class): ``fit`` on history, ``detect`` in new events."""

    @abstractmethod
    def fit(self, events: Sequence[MetricEvent]) -> None:
        """Learn from historical ``events``."""

    @abstractmethod
    def detect(self, events: Sequence[MetricEvent]) -> list[AnomalyResult]:
        """Anomalies in ``events``."""

    def _determine_severity(self, anomaly_score: float) -> AnomalySeverity:
        """The severity of a score (LOW < 0.5 <= MEDIUM < 0.7 <= HIGH < 0.9 <= CRITICAL)."""
        return AnomalySeverity.from_score(anomaly_score)


class _MethodDetector(AnomalyDetector):
    """One built-in method as a detector: a service restricted to that method (same formulas)."""

    method: str

    def __init__(self, **options: Any) -> None:
        #: the service doing the work (its baselines, ``skipped`` counts ...)
        self.service = AnomalyDetectionService(methods=(self.method,), alert_severities=(), **options)

    def fit(self, events: Sequence[MetricEvent]) -> None:
        self.service.train_sync(events)

    def detect(self, events: Sequence[MetricEvent]) -> list[AnomalyResult]:
        return self.service.detect_sync(events)


class ZScoreDetector(_MethodDetector):
    """``z_score`` detection; ``threshold`` standard deviations (default 3)."""

    method = "z_score"

    def __init__(self, threshold: float = 3.0, **options: Any) -> None:
        super().__init__(z_threshold=threshold, **options)
        self.threshold = threshold

    @property
    def baselines(self) -> dict[str, dict[str, dict[str, float]]]:
        """The seed's view: operation -> metric -> ``{"mean", "stdev"}`` (trained values)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for (op, metric), b in self.service.baselines.items():
            out.setdefault(op, {})[metric] = {"mean": b.mean, "stdev": b.stdev}
        return out


class IQRDetector(_MethodDetector):
    """``iqr`` detection: beyond the quartiles by more than ``k`` IQRs (default 1.5)."""

    method = "iqr"

    def __init__(self, k: float = 1.5, **options: Any) -> None:
        super().__init__(iqr_multiplier=k, **options)
        self.k = k

    @property
    def baselines(self) -> dict[str, dict[str, dict[str, float]]]:
        """The seed's view: operation -> metric -> ``{"q1", "q3", "iqr", "lower_bound",
        "upper_bound"}``; values outside the bounds are flagged (the IQR used for them never drops
        below the relative tolerance, see the module doc)."""
        svc = self.service
        out: dict[str, dict[str, dict[str, float]]] = {}
        for (op, metric), b in svc.baselines.items():
            spread = svc._scale(metric, b.iqr, b.median, 1.349)
            out.setdefault(op, {})[metric] = {"q1": b.q1, "q3": b.q3, "iqr": b.iqr,
                                              "lower_bound": b.q1 - self.k * spread,
                                              "upper_bound": b.q3 + self.k * spread}
        return out


class ErrorRateDetector(_MethodDetector):
    """``error_rate`` detection over the last ``window_size`` calls of an operation (limit ``threshold``)."""

    method = "error_rate"

    def __init__(self, threshold: float = 0.1, window_size: int = 100, **options: Any) -> None:
        super().__init__(error_rate_threshold=threshold, error_window=window_size, **options)
        self.threshold = threshold
        self.window_size = window_size

    @property
    def baseline_error_rates(self) -> dict[str, float]:
        """The seed's view: operation -> error rate of the training events."""
        return {op: b.rate for op, b in self.service.error_baselines.items()}


_PENDING: set[asyncio.Future[Any]] = set()


def _run_awaitable(aw: Any) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        try:
            asyncio.run(_await(aw))
        except Exception:
            logger.exception("llamonitor: anomaly alert callback failed")
        return
    task = asyncio.ensure_future(aw)  # inside a running loop: schedule, do not block it
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)


async def _await(aw: Any) -> None:
    await aw
