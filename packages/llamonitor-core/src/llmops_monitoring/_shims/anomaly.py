"""Seed ``llmops_monitoring.anomaly`` (and ``.service``): :mod:`llamonitor.analytics.anomaly`.

``anomaly.detector`` is llamonitor's module itself (``AnomalyDetector``, ``ZScoreDetector``,
``IQRDetector``, ``ErrorRateDetector``, ``AnomalySeverity``, ``AnomalyResult``). The seed's
process-wide service helpers are here: ``initialize_anomaly_service(detectors, alert_callback)``
creates the shared service, ``get_anomaly_service()`` returns it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import llamonitor.analytics.anomaly as _real
from llamonitor.analytics.anomaly import (
    AnomalyDetectionService,
    AnomalyDetector,
    AnomalyResult,
    AnomalySeverity,
    ErrorRateDetector,
    IQRDetector,
    ZScoreDetector,
)

#: a package, so the seed's ``anomaly.detector`` / ``anomaly.service`` resolve through the alias
__path__: list[str] = []

__all__ = ["AnomalyDetectionService", "AnomalyDetector", "AnomalyResult", "AnomalySeverity", "ErrorRateDetector",
           "IQRDetector", "ZScoreDetector", "get_anomaly_service", "initialize_anomaly_service"]

_service: AnomalyDetectionService | None = None


def initialize_anomaly_service(detectors: Iterable[AnomalyDetector] | None = None,
                               alert_callback: Callable[[AnomalyResult], Any] | None = None) -> AnomalyDetectionService:
    """Create (replacing any earlier one) and return the shared service."""
    global _service
    _service = AnomalyDetectionService(alert_callback, detectors=detectors)
    return _service


def get_anomaly_service() -> AnomalyDetectionService | None:
    """The service :func:`initialize_anomaly_service` created, or ``None``."""
    return _service


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
