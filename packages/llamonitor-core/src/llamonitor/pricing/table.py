"""Model price table: lookup by exact id or dated alias, and cost computation.

Prices live in ``prices.json`` next to this module (shipped in the wheel). Every entry carries
the provider's price page (``source``) and the date the figure was checked (``as_of``); see
``docs/pricing.md`` for the list, the verification level of each figure and what was left out.

Matching is deliberately strict (docs/design.md, ``pricing``): a model id resolves only through

1. an exact, case-insensitive match on an entry id or one of its listed aliases;
2. the same after dropping a provider prefix (``openai/``, ``models/``, ``anthropic/``,
   anything up to the last ``/``; Bedrock-style ``us.anthropic.``);
3. the same after stripping a version suffix -- ``-2024-07-18``, ``-20241022``, ``@20241022``,
   ``-001`` / ``-002``, Bedrock ``-v2:0`` -- *only when what remains is itself an entry*.

There is never prefix matching: ``gpt-4o-mini-2024-07-18`` is ``gpt-4o-mini``, never ``gpt-4o``
or ``gpt-4``; ``gpt-4.1-mini`` is never ``gpt-4.1``; an unknown id gives ``None``.

Token conventions (OpenAI-style, what llamonitor's :class:`TokenUsage` means everywhere):

- ``input_tokens`` *includes* ``cached_input_tokens`` and ``cache_creation_input_tokens``.
  Anthropic reports ``input_tokens`` *excluding* cache reads and writes; the Anthropic adapter
  adds them back before building a ``TokenUsage``. If a caller passes cache counts larger than
  ``input_tokens`` the uncached part is clamped at zero (never a negative cost).
- ``output_tokens`` *includes* ``reasoning_tokens``; reasoning tokens are priced at
  ``reasoning_per_mtok`` when an entry sets it, else at the output price (how every provider in
  the table bills them today).
- A long-context tier applies when ``input_tokens`` exceeds the entry's threshold, and then the
  *whole* request (input, cached input, cache writes and output) is billed at the higher rates,
  as Google and Anthropic do.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from llamonitor.schema.events import CostInfo, TokenUsage

__all__ = [
    "PRICES_FILE_ENV",
    "ModelPrice",
    "PriceTable",
    "calculate_cost",
    "cost_for",
    "get_price_table",
    "reset_price_table",
]

logger = logging.getLogger(__name__)

#: Environment variable naming an extra prices file merged over the defaults at first use.
PRICES_FILE_ENV = "LLAMONITOR_PRICES_FILE"

_MTOK = 1_000_000.0
_ROUND_DIGITS = 10


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices of one model, in US dollars per million tokens.

    ``cached_input_per_mtok`` / ``cache_write_per_mtok``: ``None`` means the provider has no
    separate rate and those tokens are billed at ``input_per_mtok``. ``reasoning_per_mtok``:
    ``None`` means reasoning tokens are billed as output. The long-context fields apply to
    requests whose input exceeds ``long_context_threshold`` tokens; cached and cache-write rates
    in that tier are the explicit ``long_context_cached_input_per_mtok`` /
    ``long_context_cache_write_per_mtok`` when given, else scaled by the same factor as input.
    """

    model: str
    provider: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None
    cache_write_per_mtok: float | None
    reasoning_per_mtok: float | None
    long_context_threshold: int | None
    long_context_input_per_mtok: float | None
    long_context_output_per_mtok: float | None
    source: str
    as_of: str
    long_context_cached_input_per_mtok: float | None = None
    long_context_cache_write_per_mtok: float | None = None
    aliases: tuple[str, ...] = field(default=())
    notes: str | None = None

    @classmethod
    def create(cls, model: str, provider: str, input_per_mtok: float, output_per_mtok: float, *,
               cached_input_per_mtok: float | None = None, cache_write_per_mtok: float | None = None,
               reasoning_per_mtok: float | None = None, long_context_threshold: int | None = None,
               long_context_input_per_mtok: float | None = None,
               long_context_output_per_mtok: float | None = None,
               long_context_cached_input_per_mtok: float | None = None,
               long_context_cache_write_per_mtok: float | None = None,
               source: str = "user", as_of: str | None = None,
               aliases: Iterable[str] = (), notes: str | None = None) -> ModelPrice:
        """Build and validate an entry with keyword defaults (``as_of`` defaults to today)."""
        price = cls(
            model=model, provider=provider, input_per_mtok=input_per_mtok,
            output_per_mtok=output_per_mtok, cached_input_per_mtok=cached_input_per_mtok,
            cache_write_per_mtok=cache_write_per_mtok, reasoning_per_mtok=reasoning_per_mtok,
            long_context_threshold=long_context_threshold,
            long_context_input_per_mtok=long_context_input_per_mtok,
            long_context_output_per_mtok=long_context_output_per_mtok,
            source=source, as_of=as_of or date.today().isoformat(),
            long_context_cached_input_per_mtok=long_context_cached_input_per_mtok,
            long_context_cache_write_per_mtok=long_context_cache_write_per_mtok,
            aliases=tuple(aliases), notes=notes,
        )
        return _validated(price)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelPrice:
        """Build an entry from one record of the prices file format (unknown keys ignored)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"price entry must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in known:
                kwargs[key] = value
        for required in ("model", "provider", "input_per_mtok", "output_per_mtok", "source", "as_of"):
            if kwargs.get(required) is None:
                raise ValueError(f"price entry {data.get('model')!r} is missing {required!r}")
        for optional in ("cached_input_per_mtok", "cache_write_per_mtok", "reasoning_per_mtok",
                         "long_context_threshold", "long_context_input_per_mtok",
                         "long_context_output_per_mtok"):
            kwargs.setdefault(optional, None)
        kwargs["aliases"] = tuple(str(a) for a in kwargs.get("aliases") or ())
        return _validated(cls(**kwargs))

    def to_dict(self) -> dict[str, Any]:
        """The prices-file representation of this entry."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["aliases"] = list(self.aliases)
        return out


def _validated(price: ModelPrice) -> ModelPrice:
    name = price.model
    if not isinstance(name, str) or not name.strip():
        raise ValueError("price entry needs a non-empty 'model' id")
    if not isinstance(price.provider, str) or not price.provider:
        raise ValueError(f"price entry {name!r}: 'provider' must be a non-empty string")
    numbers: dict[str, float | None] = {}
    for attr in ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok",
                 "reasoning_per_mtok", "long_context_input_per_mtok", "long_context_output_per_mtok",
                 "long_context_cached_input_per_mtok", "long_context_cache_write_per_mtok"):
        value = getattr(price, attr)
        if value is None:
            numbers[attr] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"price entry {name!r}: {attr} must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"price entry {name!r}: {attr} must be a finite non-negative number")
        numbers[attr] = float(value)
    threshold = price.long_context_threshold
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int)
                                  or threshold <= 0):
        raise ValueError(f"price entry {name!r}: long_context_threshold must be a positive integer")
    if threshold is None and numbers["long_context_input_per_mtok"] is not None:
        raise ValueError(f"price entry {name!r}: long-context prices need long_context_threshold")
    if threshold is not None and numbers["long_context_input_per_mtok"] is None:
        raise ValueError(f"price entry {name!r}: long_context_threshold needs "
                         "long_context_input_per_mtok")
    if not isinstance(price.source, str) or not price.source:
        raise ValueError(f"price entry {name!r}: 'source' must be a non-empty string")
    try:
        date.fromisoformat(str(price.as_of))
    except ValueError:
        raise ValueError(f"price entry {name!r}: as_of must be an ISO date, got {price.as_of!r}")
    changes: dict[str, Any] = dict(numbers)
    changes["model"] = name.strip()
    changes["as_of"] = str(price.as_of)
    changes["aliases"] = tuple(a.strip() for a in price.aliases if a and a.strip())
    return replace(price, **changes)


# --- id normalisation -------------------------------------------------------------------------

# Bedrock cross-region inference profiles ("us.anthropic.claude-...") and Bedrock model ids.
_DOT_PREFIX = re.compile(r"^(?:(?:us|eu|apac|global|jp|au|us-gov)\.)?anthropic\.")
# Version suffixes, tried repeatedly; a strip is kept only if the rest resolves to an entry.
_SUFFIXES = (
    re.compile(r"-v\d+:\d+$"),            # Bedrock "-v1:0", "-v2:0"
    re.compile(r"@\d{8}$"),               # Vertex Claude "@20241022"
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),   # OpenAI "-2024-07-18"
    re.compile(r"-\d{8}$"),               # Anthropic "-20241022"
    re.compile(r"-0\d{2}$"),              # Gemini "-001", "-002"
)
_MAX_STRIPS = 3


def _candidates(model: str) -> list[str]:
    """Lower-cased spellings of ``model`` to try, most specific first."""
    base = model.strip().lower()
    out = [base]
    if "/" in base:
        out.append(base.rsplit("/", 1)[1])
    for item in list(out):
        stripped = _DOT_PREFIX.sub("", item)
        if stripped != item:
            out.append(stripped)
    unique: list[str] = []
    for cand in out:
        if cand and cand not in unique:
            unique.append(cand)
    return unique


class PriceTable:
    """A set of :class:`ModelPrice` entries with strict id matching.

    Thread-safe: reads never lock (they see an immutable snapshot); ``register`` and
    ``load_file`` swap in a new snapshot under a lock.
    """

    _default_records: tuple[list[ModelPrice], frozenset[str]] | None = None
    _default_lock = threading.Lock()

    def __init__(self, prices: Iterable[ModelPrice] = (), *, not_aliases: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, ModelPrice] = {}
        self._aliases: dict[str, str] = {}
        self._not_aliases: frozenset[str] = frozenset(a.lower() for a in not_aliases)
        self._cache: dict[str, str | None] = {}
        for price in prices:
            self._add(price)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def default(cls) -> PriceTable:
        """A fresh table holding the shipped ``prices.json`` (the file is parsed once)."""
        records = cls._default_records
        if records is None:
            with cls._default_lock:
                records = cls._default_records
                if records is None:
                    text = resources.files("llamonitor.pricing").joinpath("prices.json").read_text(
                        encoding="utf-8")
                    prices, not_aliases = _parse(json.loads(text), origin="prices.json")
                    records = (prices, frozenset(not_aliases))
                    cls._default_records = records
        return cls(records[0], not_aliases=records[1])

    def _add(self, price: ModelPrice) -> None:
        # Caller holds the lock (or is __init__). Copy-on-write keeps readers lock-free.
        key = price.model.lower()
        entries = dict(self._entries)
        aliases = dict(self._aliases)
        old = entries.get(key)
        if old is not None:
            for alias in old.aliases:
                if aliases.get(alias.lower()) == key:
                    del aliases[alias.lower()]
        entries[key] = price
        aliases.pop(key, None)
        for alias in price.aliases:
            a = alias.lower()
            if a != key and a not in entries:
                aliases[a] = key
        self._entries = entries
        self._aliases = aliases
        self._cache = {}

    def register(self, price: ModelPrice) -> None:
        """Add or replace an entry (matched by id, case-insensitive); its aliases come along."""
        if not isinstance(price, ModelPrice):
            raise TypeError(f"register() takes a ModelPrice, got {type(price).__name__}")
        price = _validated(price)
        with self._lock:
            self._add(price)

    def load_file(self, path: str | os.PathLike[str]) -> None:
        """Merge a JSON file in the ``prices.json`` format over this table (overrides by id)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"prices file {p}: invalid JSON: {exc}") from exc
        prices, not_aliases = _parse(data, origin=str(p))
        with self._lock:
            self._not_aliases = self._not_aliases | frozenset(a.lower() for a in not_aliases)
            for price in prices:
                self._add(price)

    # -- queries --------------------------------------------------------------------------

    def models(self) -> list[str]:
        """The entry ids (canonical spelling), sorted."""
        return sorted(p.model for p in self._entries.values())

    def aliases(self) -> dict[str, str]:
        """Alias -> entry id (both lower-cased)."""
        return dict(self._aliases)

    def _direct(self, name: str) -> str | None:
        if name in self._entries:
            return name
        return self._aliases.get(name)

    def _resolve(self, name: str) -> str | None:
        for cand in _candidates(name):
            hit = self._direct(cand)
            if hit is not None:
                return hit
            if cand in self._not_aliases:
                return None
            hit = self._strip_suffixes(cand)
            if hit is not None:
                return hit
        return None

    def _strip_suffixes(self, name: str, depth: int = 0) -> str | None:
        if depth >= _MAX_STRIPS:
            return None
        for pattern in _SUFFIXES:
            stripped = pattern.sub("", name)
            if stripped == name or not stripped:
                continue
            if stripped in self._not_aliases:
                return None
            hit = self._direct(stripped)
            if hit is not None:
                return hit
            hit = self._strip_suffixes(stripped, depth + 1)
            if hit is not None:
                return hit
        return None

    def lookup(self, model: str | None) -> ModelPrice | None:
        """The entry for ``model`` (see the module doc for the matching rules), or ``None``."""
        if not isinstance(model, str) or not model.strip():
            return None
        cache = self._cache
        try:
            key = cache[model]
        except KeyError:
            key = self._resolve(model)
            if len(cache) < 10_000:
                cache[model] = key
        if key is None:
            return None
        return self._entries.get(key)

    def compute(self, model: str | None, usage: TokenUsage | None) -> CostInfo | None:
        """The cost of one call, or ``None`` if the model is unknown or there is no usage."""
        price = self.lookup(model)
        if price is None or usage is None:
            return None
        return cost_for(price, usage)


def token_count(value: Any) -> int:
    """A usage field as a non-negative token count (``None``, booleans and junk count 0)."""
    if type(value) is int:  # the usual case, first (bool is not int by type)
        return value if value > 0 else 0
    if value is None or isinstance(value, bool):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if number > 0 else 0


def cost_for(price: ModelPrice, usage: TokenUsage) -> CostInfo | None:
    """Apply ``price`` to ``usage`` (conventions in the module docstring)."""
    if type(usage) is TokenUsage:  # plain attribute reads (the getattr defaults are for look-alikes)
        raw_in, raw_out = usage.input_tokens, usage.output_tokens
        raw_cached, raw_created, raw_reasoning = (usage.cached_input_tokens, usage.cache_creation_input_tokens,
                                                  usage.reasoning_tokens)
    else:
        raw_in = getattr(usage, "input_tokens", None)
        raw_out = getattr(usage, "output_tokens", None)
        raw_cached = getattr(usage, "cached_input_tokens", None)
        raw_created = getattr(usage, "cache_creation_input_tokens", None)
        raw_reasoning = getattr(usage, "reasoning_tokens", None)
    if raw_in is None and raw_out is None:
        return None
    input_tokens = token_count(raw_in)
    output_tokens = token_count(raw_out)
    # absent cache / reasoning counts (the usual case) are 0 without a call
    cached = 0 if raw_cached is None else min(token_count(raw_cached), input_tokens)
    created = 0 if raw_created is None else min(token_count(raw_created), input_tokens - cached)
    uncached = input_tokens - cached - created
    reasoning = 0 if raw_reasoning is None else min(token_count(raw_reasoning), output_tokens)

    in_rate = price.input_per_mtok
    out_rate = price.output_per_mtok
    cached_rate = price.cached_input_per_mtok if price.cached_input_per_mtok is not None else in_rate
    write_rate = price.cache_write_per_mtok if price.cache_write_per_mtok is not None else in_rate
    reasoning_rate = price.reasoning_per_mtok if price.reasoning_per_mtok is not None else None

    threshold = price.long_context_threshold
    if threshold is not None and price.long_context_input_per_mtok is not None \
            and input_tokens > threshold:
        factor = price.long_context_input_per_mtok / in_rate if in_rate > 0 else 1.0
        in_rate = price.long_context_input_per_mtok
        cached_rate = (price.long_context_cached_input_per_mtok
                       if price.long_context_cached_input_per_mtok is not None else cached_rate * factor)
        write_rate = (price.long_context_cache_write_per_mtok
                      if price.long_context_cache_write_per_mtok is not None else write_rate * factor)
        if price.long_context_output_per_mtok is not None:
            out_rate = price.long_context_output_per_mtok
    if reasoning_rate is None:
        reasoning_rate = out_rate

    input_cost = (uncached * in_rate + cached * cached_rate + created * write_rate) / _MTOK
    output_cost = ((output_tokens - reasoning) * out_rate + reasoning * reasoning_rate) / _MTOK
    input_cost = max(0.0, round(input_cost, _ROUND_DIGITS))
    output_cost = max(0.0, round(output_cost, _ROUND_DIGITS))
    total = max(0.0, round(input_cost + output_cost, _ROUND_DIGITS))
    source = getattr(usage, "source", None)
    return CostInfo(
        input_cost_usd=input_cost,
        output_cost_usd=output_cost,
        total_cost_usd=total,
        price_source=f"{price.model}@{price.as_of}",
        estimated=(source == "estimate") if source is not None else None,
    )


def _parse(data: Any, *, origin: str) -> tuple[list[ModelPrice], list[str]]:
    """Entries and ``not_aliases`` from a prices document (an object with ``models`` or a list)."""
    not_aliases: list[str] = []
    if isinstance(data, Mapping):
        records = data.get("models")
        raw_not = data.get("not_aliases") or []
        if not isinstance(raw_not, list) or not all(isinstance(a, str) for a in raw_not):
            raise ValueError(f"prices file {origin}: 'not_aliases' must be a list of strings")
        not_aliases = list(raw_not)
    else:
        records = data
    if not isinstance(records, list):
        raise ValueError(f"prices file {origin}: expected a list of entries under 'models'")
    prices: list[ModelPrice] = []
    for i, record in enumerate(records):
        try:
            prices.append(ModelPrice.from_dict(record))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"prices file {origin}: entry {i}: {exc}") from exc
    return prices, not_aliases


# --- process-wide table -------------------------------------------------------------------

_global_table: PriceTable | None = None
_global_lock = threading.Lock()


def get_price_table() -> PriceTable:
    """The process-wide table: shipped prices, plus ``$LLAMONITOR_PRICES_FILE`` if set.

    Built on first use. A prices file that cannot be read is logged (once) and skipped so the
    background worker never fails because of it; call ``load_file`` yourself to get the error.
    """
    global _global_table
    table = _global_table
    if table is not None:
        return table
    with _global_lock:
        table = _global_table
        if table is None:
            table = PriceTable.default()
            extra = os.environ.get(PRICES_FILE_ENV)
            if extra:
                try:
                    table.load_file(extra)
                except (OSError, ValueError) as exc:
                    logger.warning("llamonitor: ignoring %s=%s: %s", PRICES_FILE_ENV, extra, exc)
            _global_table = table
        return table


def reset_price_table() -> None:
    """Forget the process-wide table (rebuilt on next use; re-reads the environment)."""
    global _global_table
    with _global_lock:
        _global_table = None


def calculate_cost(model: str | None, input_tokens: int | None, output_tokens: int | None,
                   cached_input_tokens: int | None = 0, cache_creation_input_tokens: int | None = 0,
                   reasoning_tokens: int | None = 0, *, table: PriceTable | None = None,
                   fallback: bool = True, provider: str | None = None) -> CostInfo | None:
    """Cost of one call with OpenAI-style counts (input includes cached and cache writes).

    The table (the process-wide one unless ``table`` is given) is asked first; a model it does
    not know goes to the optional ``genai-prices`` fallback unless ``fallback=False``
    (``provider`` helps it pick the provider, see :func:`llamonitor.pricing.fallback.fallback_cost`).
    """
    usage = TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        cache_creation_input_tokens=cache_creation_input_tokens,
        reasoning_tokens=reasoning_tokens,
    )
    cost = (table or get_price_table()).compute(model, usage)
    if cost is None and fallback:
        from llamonitor.pricing.fallback import fallback_cost  # that module imports this one

        cost = fallback_cost(model, usage, provider)
    return cost
