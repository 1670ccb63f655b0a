"""Fallback prices from the optional ``genai-prices`` package (``pip install "llamonitor[prices]"``).

llamonitor's own table (:mod:`llamonitor.pricing.table`) is consulted first: it is dated,
sourced and matched exactly. Only a model that table does not know is handed to
`genai-prices <https://pypi.org/project/genai-prices/>`_, whose data snapshot ships inside its
wheel (about 2,300 models of 47 providers in 0.2.3). It is used offline: llamonitor calls
``genai_prices.calc_price`` only, never ``update_prices`` (the one call that downloads), and
``tests/test_price_fallback.py`` runs it under the session network guard.

A cost priced here carries ``price_source="genai-prices@<version>:<provider>/<model>"`` so a
reader can always tell which source priced an event (own-table costs read ``<model>@<as_of>``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from llamonitor.schema.events import CostInfo, TokenUsage

__all__ = ["FALLBACK_SOURCE", "fallback_available", "fallback_cost", "reset_fallback"]

logger = logging.getLogger(__name__)

#: prefix of ``CostInfo.price_source`` for costs priced by genai-prices
FALLBACK_SOURCE = "genai-prices"

_ROUND_DIGITS = 10
_lock = threading.Lock()
_loaded = False
_module: Any = None
_version = "?"


def _load() -> Any:
    """The ``genai_prices`` module, or ``None`` when it is not installed (checked once)."""
    global _loaded, _module, _version
    if _loaded:
        return _module
    with _lock:
        if not _loaded:
            try:
                from importlib.metadata import version

                import genai_prices

                _version = version("genai-prices")
                _module = genai_prices
            except Exception:  # not installed, or broken: the own table still works
                _module = None
            _loaded = True
    return _module


def reset_fallback() -> None:
    """Forget whether ``genai-prices`` is importable (tests; re-checked on next use)."""
    global _loaded, _module
    with _lock:
        _loaded = False
        _module = None


def fallback_available() -> bool:
    """Whether the ``genai-prices`` fallback is installed."""
    return _load() is not None


def _count(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(number, 0)


def fallback_cost(model: str | None, usage: TokenUsage | None) -> CostInfo | None:
    """The cost of one call priced by ``genai-prices``; ``None`` if absent or the model is unknown.

    Token conventions match the own table: ``input_tokens`` includes cache reads and writes
    (genai-prices uses the same convention) and reasoning tokens are billed as output.
    """
    if not isinstance(model, str) or not model.strip() or usage is None:
        return None
    module = _load()
    if module is None:
        return None
    raw_in = getattr(usage, "input_tokens", None)
    raw_out = getattr(usage, "output_tokens", None)
    if raw_in is None and raw_out is None:
        return None
    input_tokens = _count(raw_in)
    cached = min(_count(getattr(usage, "cached_input_tokens", None)), input_tokens)
    created = min(_count(getattr(usage, "cache_creation_input_tokens", None)), input_tokens - cached)
    gp_usage = module.Usage(input_tokens=input_tokens, output_tokens=_count(raw_out),
                            cache_read_tokens=cached, cache_write_tokens=created)
    name = model.strip()
    calc = None
    # an id with a provider prefix ("mistral/mistral-large") is tried whole, then without it
    for ref in (name, name.rsplit("/", 1)[-1]) if "/" in name else (name,):
        try:
            calc = module.calc_price(gp_usage, ref)
            break
        except LookupError:
            continue
        except Exception:  # never let a third-party table break the writer
            logger.debug("genai-prices failed for %r", ref, exc_info=True)
            return None
    if calc is None:
        return None
    input_cost = max(0.0, round(float(calc.input_price), _ROUND_DIGITS))
    output_cost = max(0.0, round(float(calc.output_price), _ROUND_DIGITS))
    source = getattr(usage, "source", None)
    return CostInfo(
        input_cost_usd=input_cost,
        output_cost_usd=output_cost,
        total_cost_usd=max(0.0, round(input_cost + output_cost, _ROUND_DIGITS)),
        price_source=f"{FALLBACK_SOURCE}@{_version}:{calc.provider.id}/{calc.model.id}",
        estimated=(source == "estimate") if source is not None else None,
    )
