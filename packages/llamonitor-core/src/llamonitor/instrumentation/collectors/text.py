"""The built-in ``text`` collector: capacity and token counts of a call's input and output."""

from __future__ import annotations

import threading
from typing import Any

from llamonitor.instrumentation.base import MetricCollector
from llamonitor.measurement.config import MeasurementConfig
from llamonitor.measurement.extract import extract_input_text_info, extract_text_info
from llamonitor.measurement.strategies import Measurer
from llamonitor.schema.events import TextMetrics

#: custom attribute set when the input or output text was cut at ``max_chars``
TRUNCATED_ATTRIBUTE = "llamonitor.text_truncated"


def _usage_tokens(usage: Any) -> tuple[int | None, int | None, int | None] | None:
    """``(input, output, total)`` from provider-reported usage, or ``None`` if it has none."""
    if usage is None:
        return None
    names = ("input_tokens", "output_tokens", "total_tokens")
    if isinstance(usage, dict):
        vals = [usage.get(n) for n in names]
    else:
        vals = [getattr(usage, n, None) for n in names]
    in_tok, out_tok, total = (v if isinstance(v, int) and not isinstance(v, bool) else None
                              for v in vals)
    if in_tok is None and out_tok is None:
        return None
    if total is None:
        total = (in_tok or 0) + (out_tok or 0)
    return in_tok, out_tok, total


class TextCollector(MetricCollector):
    """Measures the text of ``args``/``kwargs`` (input) and ``result`` (output).

    Uses ``context["measurement"]`` (a :class:`MeasurementConfig`, a mode name or a dict;
    capacity when missing) and ``context["model"]``. When ``context["usage"]`` carries
    provider-reported token counts, nothing is tokenized: those counts fill the token fields
    (reliability ``"exact"``, tokenizer ``"provider"``) in every mode that reports tokens.
    Streams: the decorator passes the accumulated chunks as ``result``; string chunks are joined
    without separators (see :mod:`llamonitor.measurement.extract`).
    """

    def __init__(self) -> None:
        self._measurers: dict[MeasurementConfig, Measurer] = {}
        self._lock = threading.Lock()

    @property
    def metric_type(self) -> str:
        return "text"

    def _measurer(self, config: MeasurementConfig) -> Measurer:
        measurer = self._measurers.get(config)
        if measurer is None:
            with self._lock:
                if len(self._measurers) > 256:
                    self._measurers.clear()
                measurer = self._measurers.setdefault(config, Measurer(config))
        return measurer

    def collect(self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                context: dict[str, Any]) -> dict[str, Any]:
        config = MeasurementConfig.coerce(context.get("measurement"))
        model = context.get("model")
        model = model if isinstance(model, str) else None
        inp = extract_input_text_info(args, kwargs or {}, limit=config.max_chars)
        out = extract_text_info(result, limit=config.max_chars)
        provider = _usage_tokens(context.get("usage"))
        truncated = inp.truncated or out.truncated
        measured = self._measurer(config).measure_result(
            inp.text, out.text, model, truncated=truncated, tokenize=provider is None)
        metrics: TextMetrics = measured.to_text_metrics()
        if provider is not None and config.mode != "capacity":
            metrics.input_tokens, metrics.output_tokens, metrics.total_tokens = provider
            metrics.token_reliability = "exact"
            metrics.tokenizer = "provider"
        fields: dict[str, Any] = {"text_metrics": metrics}
        if truncated:
            fields["custom_attributes"] = {TRUNCATED_ATTRIBUTE: True}
        return fields
