"""The ``cost`` collector: prices a call from its model and token usage.

Runs in the background worker after the measurement step. Token counts come from, in order:

1. ``context["usage"]`` -- what the provider reported (always preferred);
2. ``event.usage`` -- usage an earlier collector or adapter put on the event;
3. ``event.text_metrics.input_tokens`` / ``output_tokens`` -- counted by the measurement step;
4. ``ceil(chars / 4)`` from ``text_metrics.input_char_count`` / ``output_char_count``.

Cases 3 (when the tokenizer marked its count ``"estimated"``) and 4 set ``CostInfo.estimated``.
The result carries ``custom_attributes["estimated_cost_usd"]`` (the seed project's Parquet
column readers use it) and ``custom_attributes["cost_model"]`` (the price entry that matched).
The price entry is the response model's (``context["response_model"]``, what the provider says
answered) when the table knows it, else the request model's (``context["model"]``).
A model the own table does not know is priced by the optional ``genai-prices`` fallback
(:mod:`llamonitor.pricing.fallback`) when installed; ``CostInfo.price_source`` says which source
priced it. A model neither knows yields only ``custom_attributes["cost_unknown_model"]``; odd
input never raises.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from llamonitor.instrumentation.base import MetricCollector
from llamonitor.pricing.fallback import fallback_cost
from llamonitor.pricing.table import ModelPrice, PriceTable, cost_for, get_price_table
from llamonitor.schema.events import CostInfo, MetricEvent, TextMetrics, TokenUsage

logger = logging.getLogger(__name__)

_CHARS_PER_TOKEN = 4


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 0 else None


def _usage_from(value: Any) -> TokenUsage | None:
    """A :class:`TokenUsage` from a TokenUsage or a dict of its fields; ``None`` if empty."""
    if isinstance(value, TokenUsage):
        usage = value
    elif isinstance(value, dict):
        usage = TokenUsage(
            input_tokens=_as_int(value.get("input_tokens")),
            output_tokens=_as_int(value.get("output_tokens")),
            total_tokens=_as_int(value.get("total_tokens")),
            cached_input_tokens=_as_int(value.get("cached_input_tokens")),
            cache_creation_input_tokens=_as_int(value.get("cache_creation_input_tokens")),
            reasoning_tokens=_as_int(value.get("reasoning_tokens")),
            source=value.get("source") if isinstance(value.get("source"), str) else None,
        )
    else:
        return None
    if _as_int(usage.input_tokens) is None and _as_int(usage.output_tokens) is None:
        return None
    return usage


def _usage_from_text(metrics: Any) -> tuple[TokenUsage, bool] | None:
    """(usage, estimated) from text metrics: counted tokens, else chars / 4."""
    if not isinstance(metrics, TextMetrics):
        return None
    in_tok = _as_int(metrics.input_tokens)
    out_tok = _as_int(metrics.output_tokens)
    if in_tok is not None or out_tok is not None:
        estimated = metrics.token_reliability == "estimated"
        source = "estimate" if estimated else "tokenizer"
        return TokenUsage(input_tokens=in_tok, output_tokens=out_tok, source=source), estimated
    in_chars = _as_int(metrics.input_char_count)
    out_chars = _as_int(metrics.output_char_count)
    if in_chars is None and out_chars is None:
        return None
    usage = TokenUsage(
        input_tokens=math.ceil(in_chars / _CHARS_PER_TOKEN) if in_chars is not None else None,
        output_tokens=math.ceil(out_chars / _CHARS_PER_TOKEN) if out_chars is not None else None,
        source="estimate",
    )
    return usage, True


class CostCollector(MetricCollector):
    """Estimates the call's cost in USD: own price table first, then ``genai-prices`` if installed.

    ``fallback=False`` prices from the table alone.
    """

    def __init__(self, table: PriceTable | None = None, *, fallback: bool = True) -> None:
        self._table = table
        self._fallback = fallback

    @property
    def metric_type(self) -> str:
        return "cost"

    @property
    def table(self) -> PriceTable:
        return self._table if self._table is not None else get_price_table()

    def collect(self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                context: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._collect(context if isinstance(context, dict) else {})
        except Exception:  # never let pricing break the worker
            logger.debug("cost collector failed", exc_info=True)
            return {}

    def price_for(self, model: str, answered: str | None) -> ModelPrice | None:
        """The table's entry for a call of ``model`` that ``answered`` answered: what answered when
        the table knows it (a dated snapshot can cost differently from the alias asked for), else
        the request model's; ``None`` when it knows neither (fallback prices are not looked at)."""
        if answered is not None and answered.strip() and answered != model:
            price = self.table.lookup(answered)
            if price is not None:
                return price
        return self.table.lookup(model)

    def _collect(self, context: dict[str, Any]) -> dict[str, Any]:
        event = context.get("event")
        if not isinstance(event, MetricEvent):
            event = None
        model = context.get("model")
        if not isinstance(model, str) or not model.strip():
            attrs = context.get("custom_attributes")
            model = attrs.get("model") if isinstance(attrs, dict) else None
        if (not isinstance(model, str) or not model.strip()) and event is not None:
            model = event.model
        # The model that answered is what was billed: price by it when the table knows it (a
        # dated snapshot can cost differently from the alias asked for), else by the request model.
        answered = context.get("response_model")
        if not isinstance(answered, str) and event is not None:
            answered = event.response_model
        if not isinstance(answered, str) or not answered.strip() or answered == model:
            answered = None
        if not isinstance(model, str) or not model.strip():
            if answered is None:
                return {}
            model, answered = answered, None
        price = self.price_for(model, answered)
        if price is None and not self._fallback:
            return {"custom_attributes": {"cost_unknown_model": model}}

        estimated = False
        usage = _usage_from(context.get("usage"))
        if usage is None and event is not None:
            usage = _usage_from(event.usage)
        if usage is not None:
            estimated = usage.source == "estimate"
        elif event is not None:
            from_text = _usage_from_text(event.text_metrics)
            if from_text is not None:
                usage, estimated = from_text
        if usage is None:
            return {} if price is not None else {"custom_attributes": {"cost_unknown_model": model}}

        if price is not None:
            cost: CostInfo | None = cost_for(price, usage)
            cost_model = price.model
        else:
            provider = context.get("provider")
            if not isinstance(provider, str) and event is not None:
                provider = event.provider
            cost, cost_model = None, model
            for candidate in (answered, model):  # the same order as the table: what answered first
                if candidate is not None:
                    cost = fallback_cost(candidate, usage, provider if isinstance(provider, str) else None)
                    if cost is not None:
                        cost_model = candidate
                        break
            if cost is None:
                return {"custom_attributes": {"cost_unknown_model": model}}
        if cost is None:
            return {}
        cost.estimated = estimated  # a fresh object: set in place (dataclasses.replace costs ~3 µs)
        return {
            "cost": cost,
            "custom_attributes": {
                "estimated_cost_usd": cost.total_cost_usd,
                "cost_model": cost_model,
            },
        }
