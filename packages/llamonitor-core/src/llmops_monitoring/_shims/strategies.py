"""Seed ``llmops_monitoring.measurement`` strategy classes, over :func:`llamonitor.measurement.measure_text`.

The seed had one class per mode and a resolver choosing between them; llamonitor has one
``Measurer`` driven by a mode name. Each class here measures by calling llamonitor's
``measure_text`` with its mode (same counts, tokenizers, timeouts and fallbacks as
``@monitor_llm(measurement=...)``); subclasses of :class:`MeasurementStrategy` registered in
:class:`StrategyRegistry` are used by :class:`MeasurementStrategyResolver` like the seed's.
Seed paths: ``measurement[.base, .resolver]`` and ``measurement.strategies[.capacity, .token, .hybrid]``.
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from llamonitor.measurement import MeasurementConfig, encoding_name_for_model
from llamonitor.measurement import measure_text as _measure_text
from llamonitor.measurement.strategies import MeasurementMetadata, MeasurementResult, MeasurementType, Reliability

#: a package: the seed's ``strategies.capacity`` / ``.token`` / ``.hybrid`` resolve here too
__path__: list[str] = []

logger = logging.getLogger("llamonitor")

#: seed name of :class:`llamonitor.measurement.Reliability` (same members and values)
MeasurementReliability = Reliability

#: seed config keys spelled differently in :class:`~llamonitor.measurement.MeasurementConfig`
_RENAMED_KEYS = {"fallback_to_estimation": "fallback_enabled", "parallel_execution": "parallel_hybrid"}


def _options(config: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (config or {}).items():
        key = _RENAMED_KEYS.get(key, key)
        if key in MeasurementConfig.model_fields and key != "mode":
            out[key] = value
    return out


def _model(context: Mapping[str, Any] | None) -> str | None:
    """``context["model"]``, else ``context["custom_attributes"]["model"]`` (where the seed looked)."""
    ctx = context or {}
    model = ctx.get("model")
    if not model and isinstance(ctx.get("custom_attributes"), dict):
        model = ctx["custom_attributes"].get("model")
    if not model and isinstance(ctx.get("function_args"), dict):
        model = ctx["function_args"].get("model")
    return model if isinstance(model, str) and model else None


class MeasurementStrategy(ABC):
    """Base class of a measurement strategy (seed API): ``await measure(text, context)``."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self.strategy_name = type(self).__name__

    @abstractmethod
    async def measure(self, text: str, context: Mapping[str, Any] | None = None) -> MeasurementResult:
        """Measure ``text``; ``context`` may name the ``model``."""

    @abstractmethod
    def supports_model(self, model: str | None) -> bool:
        """Whether this strategy can measure text for ``model``."""

    def get_priority(self) -> int:
        """Preference when choosing automatically (0-100, higher first)."""
        return 50

    def estimate_cost_impact(self) -> float:
        """Relative computing cost (0 = free, 1 = expensive)."""
        return 0.1


class _ModeStrategy(MeasurementStrategy):
    mode: ClassVar[str]

    async def measure(self, text: str, context: Mapping[str, Any] | None = None) -> MeasurementResult:
        """llamonitor's ``measure_text(text, mode=<this mode>)`` with this strategy's config."""
        ctx: dict[str, Any] = {**_options(self.config), "model": _model(context)}
        if context and isinstance(context.get("output_text"), str):
            ctx["output_text"] = context["output_text"]
        return await _measure_text(text if isinstance(text, str) else str(text), mode=self.mode, context=ctx)


class CapacityStrategy(_ModeStrategy):
    """Characters, words, UTF-8 bytes and lines (always exact, any model)."""

    mode = "capacity"

    def supports_model(self, model: str | None) -> bool:
        return True

    def get_priority(self) -> int:
        return 30

    def estimate_cost_impact(self) -> float:
        return 0.01


class TokenStrategy(_ModeStrategy):
    """Tokens from the model family's tokenizer; estimated (``ceil(chars / 4)``) for other models."""

    mode = "token"

    def supports_model(self, model: str | None) -> bool:
        """Whether ``model`` has an exact (offline) tokenizer."""
        return bool(model) and encoding_name_for_model(model) is not None

    def get_priority(self) -> int:
        return 70

    def estimate_cost_impact(self) -> float:
        return 0.3


class HybridStrategy(_ModeStrategy):
    """Capacity counts and tokens together."""

    mode = "hybrid"

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.capacity_strategy = CapacityStrategy(config)
        self.token_strategy = TokenStrategy(config)

    def supports_model(self, model: str | None) -> bool:
        return True

    def get_priority(self) -> int:
        return 80

    def estimate_cost_impact(self) -> float:
        return 0.3


class StrategyRegistry:
    """Strategy classes by name (``capacity``, ``token``, ``hybrid`` are registered)."""

    _strategies: ClassVar[dict[str, type[MeasurementStrategy]]] = {}
    _instances: ClassVar[dict[str, MeasurementStrategy]] = {}

    @classmethod
    def register(cls, name: str, strategy_class: type[MeasurementStrategy]) -> None:
        """Register (or replace) ``strategy_class`` under ``name``."""
        cls._strategies[name] = strategy_class
        cls._instances.pop(name, None)

    @classmethod
    def get_strategy(cls, name: str, config: Mapping[str, Any] | None = None) -> MeasurementStrategy | None:
        """An instance of the strategy ``name`` (shared when ``config`` is None), or ``None``."""
        strategy_class = cls._strategies.get(name)
        if strategy_class is None:
            return None
        if config is not None:
            return strategy_class(config)
        if name not in cls._instances:
            cls._instances[name] = strategy_class(None)
        return cls._instances[name]

    @classmethod
    def list_strategies(cls) -> list[str]:
        """Registered names."""
        return list(cls._strategies)

    @classmethod
    def get_all_strategies(cls, config: Mapping[str, Any] | None = None) -> list[MeasurementStrategy]:
        """One instance of every registered strategy."""
        return [s for name in cls._strategies for s in [cls.get_strategy(name, config)] if s is not None]


StrategyRegistry.register("capacity", CapacityStrategy)
StrategyRegistry.register("token", TokenStrategy)
StrategyRegistry.register("hybrid", HybridStrategy)


class StrategyMode(str, enum.Enum):
    """Strategy selection mode."""

    AUTO = "auto"
    CAPACITY = "capacity"
    TOKEN = "token"
    HYBRID = "hybrid"


class MeasurementStrategyResolver:
    """Measures with the registered strategy of ``mode``; ``auto`` is llamonitor's auto mode
    (tokens for models with an exact tokenizer, capacity otherwise; ``context["use_hybrid"]``
    asks for hybrid). With ``fallback_enabled`` a strategy that raises falls back to capacity."""

    def __init__(self, mode: str = "auto", config: Mapping[str, Any] | None = None) -> None:
        self.mode = StrategyMode(str(mode).lower())
        self.config: dict[str, Any] = dict(config or {})
        self.prefer_tokens = bool(self.config.get("prefer_tokens", True))
        self.fallback_enabled = bool(self.config.get("fallback_enabled", True))
        self.parallel_hybrid = bool(self.config.get("parallel_hybrid", True))
        self._strategies: dict[str, MeasurementStrategy] = {}

    def _strategy(self, name: str) -> MeasurementStrategy:
        if name not in self._strategies:
            got = StrategyRegistry.get_strategy(name, self.config)
            self._strategies[name] = got if got is not None else CapacityStrategy(self.config)
        return self._strategies[name]

    async def measure(self, text: str, context: Mapping[str, Any] | None = None) -> MeasurementResult:
        """Measure ``text`` (see the class doc)."""
        try:
            if self.mode is StrategyMode.AUTO:
                if context and context.get("use_hybrid"):
                    return await self._strategy("hybrid").measure(text, context)
                ctx = {**_options(self.config), "model": _model(context)}
                return await _measure_text(text, mode="auto", context=ctx)
            return await self._strategy(self.mode.value).measure(text, context)
        except Exception:
            if not self.fallback_enabled or self.mode is StrategyMode.CAPACITY:
                raise
            logger.warning("llamonitor: %s measurement failed; falling back to capacity", self.mode.value,
                           exc_info=True)
            return await self._strategy("capacity").measure(text, context)

    async def measure_multiple(self, texts: list[str],
                               context: Mapping[str, Any] | None = None) -> list[MeasurementResult]:
        """:meth:`measure` for each text, in order."""
        return [await self.measure(t, context) for t in texts]

    def get_available_strategies(self) -> list[str]:
        """Registered strategy names."""
        return StrategyRegistry.list_strategies()

    def get_strategy_info(self) -> dict[str, Any]:
        """Mode, preferences and strategies."""
        return {"mode": self.mode.value, "prefer_tokens": self.prefer_tokens,
                "fallback_enabled": self.fallback_enabled, "parallel_hybrid": self.parallel_hybrid,
                "available_strategies": self.get_available_strategies(),
                "loaded_strategies": list(self._strategies)}


async def measure_text(text: str, mode: str = "auto", context: Mapping[str, Any] | None = None,
                       config: Mapping[str, Any] | None = None) -> MeasurementResult:
    """The seed's ``measure_text``: mode ``auto`` by default and an optional strategy ``config``."""
    return await MeasurementStrategyResolver(mode=mode, config=config).measure(text, context)


__all__ = [
    "CapacityStrategy",
    "HybridStrategy",
    "MeasurementMetadata",
    "MeasurementReliability",
    "MeasurementResult",
    "MeasurementStrategy",
    "MeasurementStrategyResolver",
    "MeasurementType",
    "StrategyMode",
    "StrategyRegistry",
    "TokenStrategy",
    "measure_text",
]
