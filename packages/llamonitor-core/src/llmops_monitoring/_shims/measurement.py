"""Seed ``llmops_monitoring.measurement`` (and ``.base``, ``.resolver``): llamonitor's measurement
package plus the seed's strategy classes, registry and resolver (see :mod:`._shims.strategies`).

``measure_text`` is the seed's: mode ``"auto"`` by default and an optional ``config``; llamonitor's
own (mode ``"capacity"`` by default) stays ``llamonitor.measurement.measure_text``.
"""

from __future__ import annotations

from typing import Any

import llamonitor.measurement as _real
from llamonitor.measurement import *  # noqa: F403
from llamonitor.measurement import __all__ as _real_all

from llmops_monitoring._shims.strategies import (
    CapacityStrategy,
    HybridStrategy,
    MeasurementReliability,
    MeasurementStrategy,
    MeasurementStrategyResolver,
    MeasurementType,
    StrategyMode,
    StrategyRegistry,
    TokenStrategy,
    measure_text,
)

#: a package: ``measurement.strategies`` and llamonitor's own submodules resolve through the alias
__path__: list[str] = []

__all__ = ["CapacityStrategy", "HybridStrategy", "MeasurementReliability", "MeasurementStrategy",
           "MeasurementStrategyResolver", "MeasurementType", "StrategyMode", "StrategyRegistry", "TokenStrategy",
           "measure_text"]
__all__ += [n for n in _real_all if n not in __all__]


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
