"""Seed ``llmops_monitoring.measurement.strategies``: :mod:`llamonitor.measurement.strategies`.

The seed had one class per mode (``CapacityStrategy`` ...); llamonitor has one ``Measurer``
driven by a mode name (``measurement="capacity" | "token" | "hybrid" | "auto"``).
"""

from __future__ import annotations

from typing import Any

import llamonitor.measurement.strategies as _real

#: a package, so the seed's ``strategies.capacity`` / ``.token`` / ``.hybrid`` resolve
__path__: list[str] = []


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
