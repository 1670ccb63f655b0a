"""Seed ``llmops_monitoring.transport.writer``: the writer and ``initialize_monitoring``."""

from __future__ import annotations

from typing import Any

import llamonitor.transport.worker as _real
from llamonitor.runtime import initialize_monitoring
from llamonitor.transport.worker import MonitoringWriter

__all__ = ["MonitoringWriter", "initialize_monitoring"]


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
