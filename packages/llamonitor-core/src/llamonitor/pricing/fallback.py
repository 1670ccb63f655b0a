"""Fallback prices from the optional ``genai-prices`` package (``pip install "llamonitor[prices]"``).

llamonitor's own table (:mod:`llamonitor.pricing.table`) is consulted first: it is dated,
sourced and matched exactly. Only a model that table does not know is handed to
`genai-prices <https://pypi.org/project/genai-prices/>`_, whose data snapshot ships inside its
wheel (about 2,300 models of 47 providers in 0.2.3). It is used offline: llamonitor calls
``genai_prices.calc_price`` only, never ``update_prices`` (the one call that downloads), and
``tests/test_price_fallback.py`` runs it under the session network guard.

A cost priced here carries ``price_source="genai-prices@<version>:<provider>/<model>"`` so a
reader can always tell which source priced an event (own-table costs read ``<model>@<as_of>``).

Speed (the writer thread pays it; ``bench/price_fallback.py``): the first fallback call loads
genai-prices' data (about 1 s, once per process). A model's match is then cached: flat per-token
prices (most of its models) are turned into a :class:`ModelPrice` and priced by
:func:`cost_for` like an own-table entry; tiered or per-request prices go through
``calc_price`` every time (about 40 µs). Unknown ids are cached too.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, NamedTuple

from llamonitor.pricing.table import ModelPrice, cost_for, token_count
from llamonitor.schema.events import CostInfo, TokenUsage

__all__ = ["FALLBACK_SOURCE", "fallback_available", "fallback_cost", "reset_fallback"]

logger = logging.getLogger(__name__)

#: prefix of ``CostInfo.price_source`` for costs priced by genai-prices
FALLBACK_SOURCE = "genai-prices"

_ROUND_DIGITS = 10
_CACHE_LIMIT = 10_000
#: genai-prices price keys a TokenUsage can trigger, and their ModelPrice field
_TOKEN_KEYS = {"input_mtok": "input_per_mtok", "output_mtok": "output_per_mtok",
               "cache_read_mtok": "cached_input_per_mtok", "cache_write_mtok": "cache_write_per_mtok"}
#: keys billed on every call whatever the usage: such a model is never flattened
_PER_CALL_KEYS = ("requests_kcount",)
_lock = threading.Lock()


class _Match(NamedTuple):
    """What genai-prices matched for one model id."""

    flat: ModelPrice | None  # None: priced by calc_price on every call
    label: str  # the price_source
    provider: str
    ref: str  # the id genai-prices matched (the id as called, or without its prefix)


#: (provider, model id as called) -> its match; None = unknown to genai-prices
_matches: dict[tuple[str, str], _Match | None] = {}
#: lower-cased model id -> ids of the providers listing it (built on first need)
_listed: dict[str, set[str]] = {}
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
        _matches.clear()
        _listed.clear()


def fallback_available() -> bool:
    """Whether the ``genai-prices`` fallback is installed."""
    return _load() is not None


def fallback_cost(model: str | None, usage: TokenUsage | None, provider: str | None = None) -> CostInfo | None:
    """The cost of one call priced by ``genai-prices``; ``None`` if absent or the model is unknown.

    ``provider`` (the event's provider, e.g. ``"together"``) picks genai-prices' provider when it
    has one of that id; without it genai-prices infers the provider from the model id, a
    ``<provider>/`` prefix names it, and an id exactly one provider lists is found by a search.
    An id several providers list at different prices and nothing names the provider stays
    unpriced (never guessed).

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
    input_tokens = token_count(raw_in)
    cached = min(token_count(getattr(usage, "cached_input_tokens", None)), input_tokens)
    created = min(token_count(getattr(usage, "cache_creation_input_tokens", None)), input_tokens - cached)
    output_tokens = token_count(raw_out)
    name = model.strip()
    key = (provider.strip().lower() if isinstance(provider, str) else "", name)
    try:
        match = _matches[key]
    except KeyError:
        match = _match(module, name, key[0])
        if len(_matches) < _CACHE_LIMIT:
            _matches[key] = match
    if match is None:
        return None
    if match.flat is not None:
        cost = cost_for(match.flat, usage)
        if cost is not None:
            cost.price_source = match.label
        return cost
    gp_usage = module.Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                            cache_read_tokens=cached, cache_write_tokens=created)
    try:
        calc = module.calc_price(gp_usage, match.ref, provider_id=match.provider)
    except Exception:  # never let a third-party table break the writer
        logger.debug("genai-prices failed for %r", name, exc_info=True)
        return None
    input_cost = max(0.0, round(float(calc.input_price), _ROUND_DIGITS))
    output_cost = max(0.0, round(float(calc.output_price), _ROUND_DIGITS))
    source = getattr(usage, "source", None)
    return CostInfo(
        input_cost_usd=input_cost,
        output_cost_usd=output_cost,
        # total_price includes per-request fees (``requests_kcount``), which are neither
        # input nor output: total can exceed input + output for such models
        total_cost_usd=max(0.0, round(float(calc.total_price), _ROUND_DIGITS)),
        price_source=match.label,
        estimated=(source == "estimate") if source is not None else None,
    )


def _attempts(module: Any, name: str, provider: str) -> list[tuple[str, str | None]]:
    """(model ref, provider id) pairs to try, most specific first.

    A provider genai-prices knows, named by ``provider`` or by the id's first ``/`` segment, is the
    only one tried: a call billed by Together is never priced at another host's rate.
    """
    providers = {p.id for p in module.data_snapshot.get_snapshot().providers}
    head, _, rest = name.partition("/")
    if provider in providers:
        return list(dict.fromkeys([(name, provider), (rest, provider)] if rest else [(name, provider)]))
    if rest and head.lower() in providers:
        return [(rest, head.lower())]
    attempts: list[tuple[str, str | None]] = [(name, None)]
    if rest:
        attempts.append((name.rsplit("/", 1)[-1], None))  # genai-prices' own provider inference
    if not _listed:
        for entry in module.data_snapshot.get_snapshot().providers:
            for listed in entry.models:
                _listed.setdefault(listed.id.lower(), set()).add(entry.id)
    owners = _listed.get(name.lower(), set())
    if len(owners) == 1:  # an exact id only one provider lists
        attempts.append((name, next(iter(owners))))
    return attempts


def _match(module: Any, name: str, provider: str) -> _Match | None:
    """genai-prices' entry for ``name`` (see :func:`fallback_cost` for the order), or ``None``."""
    probe = module.Usage(input_tokens=1, output_tokens=1)
    for ref, provider_id in _attempts(module, name, provider):
        try:
            calc = module.calc_price(probe, ref, provider_id=provider_id)
        except LookupError:
            continue
        except Exception:  # never let a third-party table break the writer
            logger.debug("genai-prices failed for %r", ref, exc_info=True)
            return None
        label = f"{FALLBACK_SOURCE}@{_version}:{calc.provider.id}/{calc.model.id}"
        return _Match(_flatten(calc, label), label, calc.provider.id, ref)
    return None


def _flatten(calc: Any, label: str) -> ModelPrice | None:
    """A :class:`ModelPrice` equal to genai-prices' flat per-token price; ``None`` if not flat."""
    from decimal import Decimal

    prices = {k: v for k, v in vars(calc.model_price).items() if not k.startswith("_") and v is not None}
    if any(key in prices for key in _PER_CALL_KEYS):
        return None
    rates: dict[str, float | None] = {}
    for key, attr in _TOKEN_KEYS.items():
        value = prices.get(key)
        if value is not None and not isinstance(value, Decimal):  # tiered by context length
            return None
        rates[attr] = float(value) if value is not None else None
    try:
        return ModelPrice.create(label.split(":", 1)[1], calc.provider.id,
                                 rates["input_per_mtok"] or 0.0, rates["output_per_mtok"] or 0.0,
                                 cached_input_per_mtok=rates["cached_input_per_mtok"],
                                 cache_write_per_mtok=rates["cache_write_per_mtok"], source=FALLBACK_SOURCE)
    except (TypeError, ValueError):
        return None
