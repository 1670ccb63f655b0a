"""Result and baseline types of :mod:`llamonitor.analytics.anomaly` (formulas: that module and docs/analytics.md)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from itertools import repeat
from operator import sub
from typing import Any

from llamonitor.quantiles import quantile
from llamonitor.schema.events import MetricEvent


class AnomalySeverity(str, Enum):
    """LOW (score < 0.5), MEDIUM (0.5-0.7), HIGH (0.7-0.9), CRITICAL (>= 0.9)."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def from_score(cls, score: float) -> AnomalySeverity:
        """The severity of an anomaly score in [0, 1]."""
        if score >= 0.9:
            return cls.CRITICAL
        if score >= 0.7:
            return cls.HIGH
        if score >= 0.5:
            return cls.MEDIUM
        return cls.LOW

    @property
    def rank(self) -> int:
        """0 (LOW) .. 3 (CRITICAL)."""
        return list(AnomalySeverity).index(self)


def _tokens(e: MetricEvent) -> float | None:
    if e.usage is not None:
        if e.usage.total_tokens is not None:
            return float(e.usage.total_tokens)
        if e.usage.input_tokens is not None or e.usage.output_tokens is not None:
            return float((e.usage.input_tokens or 0) + (e.usage.output_tokens or 0))
    tm = e.text_metrics
    return float(tm.total_tokens) if tm is not None and tm.total_tokens is not None else None


def _chars(e: MetricEvent) -> float | None:
    tm = e.text_metrics
    return float(tm.char_count) if tm is not None and tm.char_count is not None else None


def _cost(e: MetricEvent) -> float | None:
    c = e.cost
    return float(c.total_cost_usd) if c is not None and c.total_cost_usd is not None else None


#: metric name -> reader (``None`` when the event has no value)
METRICS: dict[str, Callable[[MetricEvent], float | None]] = {
    "duration_ms": lambda e: float(e.duration_ms),
    "total_tokens": _tokens,
    "char_count": _chars,
    "total_cost_usd": _cost,
}


def read_standard(e: MetricEvent) -> tuple[float, float | None, float | None, float | None]:
    """Every :data:`METRICS` reader on ``e`` in one call, in that order (the readers, inlined)."""
    usage, tm, c = e.usage, e.text_metrics, e.cost
    if usage is not None and usage.total_tokens is not None:
        tokens: float | None = float(usage.total_tokens)
    else:
        tokens = _tokens(e)
    return (float(e.duration_ms), tokens,
            float(tm.char_count) if tm is not None and tm.char_count is not None else None,
            float(c.total_cost_usd) if c is not None and c.total_cost_usd is not None else None)


#: smallest scale per metric (a 1 ms, 1 token, 1 character or $0.000001 deviation is never "many sd")
METRIC_FLOORS: dict[str, float] = {"duration_ms": 1.0, "total_tokens": 1.0, "char_count": 1.0,
                                   "total_cost_usd": 1e-6}
METHODS = ("z_score", "iqr", "error_rate")


def score_from_ratio(r: float) -> float:
    """``1 - 1 / r**2`` for ``r > 1`` (deviation / threshold), else 0."""
    return 0.0 if r <= 1.0 else 1.0 - 1.0 / (r * r)


@dataclass(slots=True)
class MetricBaseline:
    """Statistics of one metric of one operation, from training events."""

    operation_name: str
    metric_name: str
    count: int
    mean: float
    stdev: float
    median: float
    q1: float
    q3: float
    mad: float
    minimum: float
    maximum: float

    @property
    def iqr(self) -> float:
        """Interquartile range ``q3 - q1``."""
        return self.q3 - self.q1

    @classmethod
    def from_values(cls, operation: str, metric: str, values: Sequence[float]) -> MetricBaseline:
        """Baseline of ``values`` (at least one); quartiles by linear interpolation ("inclusive")."""
        xs = sorted(values)
        n = len(xs)
        mean = math.fsum(xs) / n
        # map() forms of ``fsum((x - mean) ** 2 for x in xs)`` and ``sorted(abs(x - med) for x in xs)``
        sd = math.sqrt(math.fsum(map(pow, map(sub, xs, repeat(mean)), repeat(2))) / (n - 1)) if n >= 2 else 0.0
        med = quantile(xs, 0.5)
        deviations = sorted(map(abs, map(sub, xs, repeat(med))))
        return cls(operation, metric, n, mean, sd, med, quantile(xs, 0.25), quantile(xs, 0.75),
                   quantile(deviations, 0.5), xs[0], xs[-1])


@dataclass(slots=True)
class ErrorBaseline:
    """Error rate of one operation in the training events."""

    operation_name: str
    count: int
    errors: int

    @property
    def rate(self) -> float:
        """errors / count."""
        return self.errors / self.count if self.count else 0.0


@dataclass(slots=True)
class AnomalyResult:
    """One anomaly: which operation and metric, how far off, and how bad.

    ``value`` is the observed value (an error rate for ``error_rate``), ``expected`` the baseline
    centre (mean for z-score, median for IQR, trained error rate), ``spread`` the scale used
    (sd / IQR / limit) and ``deviation`` the method's statistic (z, IQR units beyond the quartile,
    rate / limit). ``details`` holds the baseline size, ``small_baseline``, agreeing methods etc.
    """

    operation_name: str
    metric_name: str
    severity: AnomalySeverity
    anomaly_score: float
    method: str
    value: float
    expected: float
    deviation: float
    threshold: float
    spread: float
    baseline_size: int
    timestamp: datetime | None = None
    event_id: str | None = None
    session_id: str | None = None
    trace_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_anomaly(self) -> bool:
        """Always ``True``: only anomalies are returned (the seed's field, kept for its code)."""
        return True

    @property
    def is_alert(self) -> bool:
        """HIGH or CRITICAL."""
        return self.severity in (AnomalySeverity.HIGH, AnomalySeverity.CRITICAL)

    def describe(self) -> str:
        """A human-readable block like the seed README's example output."""
        unit = "ms" if self.metric_name == "duration_ms" else ""
        if self.method == "error_rate":
            value = (f"{self.value * 100:.1f}% errors (expected: {self.expected * 100:.1f}%, "
                     f"limit {self.spread * 100:.1f}%)")
            stat = f"Rate / limit: {self.deviation:.1f}"
        else:
            value = f"{self.value:g}{unit} (expected: {self.expected:g}{unit} ± {self.spread:.3g}{unit})"
            stat = f"{'Z-score' if self.method == 'z_score' else 'IQR units'}: {self.deviation:.1f}"
        return "\n".join([f"Operation: {self.operation_name}", f"Metric: {self.metric_name}",
                          f"Severity: {self.severity.value}", f"Anomaly Score: {self.anomaly_score:.3f}",
                          f"Method: {self.method}", f"Value: {value}", stat])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        out = asdict(self)
        out["severity"] = self.severity.value
        out["timestamp"] = self.timestamp.isoformat() if self.timestamp else None
        return out
