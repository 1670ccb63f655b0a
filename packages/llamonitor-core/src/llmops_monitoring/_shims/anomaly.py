"""Seed ``llmops_monitoring.anomaly`` (a package there): :mod:`llamonitor.analytics.anomaly`."""

from __future__ import annotations

from typing import Any

import llamonitor.analytics.anomaly as _real
from llamonitor.analytics.anomaly import AnomalyDetectionService, AnomalyResult

#: a package, so the seed's ``anomaly.detector`` / ``anomaly.service`` resolve through the alias
__path__: list[str] = []

__all__ = ["AnomalyDetectionService", "AnomalyResult"]


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
