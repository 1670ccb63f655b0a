"""Turn raw hot-path records into :class:`MetricEvent` objects (runs in the worker).

This is where the heavy work lives: id formatting, clock conversion, collectors (text
measurement, images, cost), content capture and redaction. A failing collector is logged once
and counted; it never loses the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields
from operator import attrgetter, itemgetter
from typing import Any

from llamonitor.ids import event_uuid, span_hex, trace_hex
from llamonitor.instrumentation.base import CollectorRegistry
from llamonitor.pricing.table import ModelPrice, cost_for
from llamonitor.schema.batch import Column, EventBatch, Row, columns_to_rows
from llamonitor.schema.config import MonitorConfig
from llamonitor.schema.events import CostInfo, MetricEvent, TokenUsage
from llamonitor.schema.sanitize import clean_event
from llamonitor.schema.serialize import NESTED, NESTED_FIELDS, dumps_attributes
from llamonitor.transport.records import EXTRA, SPEC, OperationSpec, Record, spec_of

logger = logging.getLogger("llamonitor")
_ref_of = itemgetter(SPEC)
_extra_of = itemgetter(EXTRA)
_MAX_ERROR_MESSAGE = 2000
_KNOWN_KEYS = frozenset(NESTED) | {"custom_attributes", "model", "response_model", "provider"}
_USAGE_FIELDS = tuple(f.name for f in fields(TokenUsage))
_COST_FIELDS = tuple(f.name for f in fields(CostInfo))


def safe_text(value: Any, limit: int) -> str:
    """``str(value)`` truncated, or a placeholder if ``__str__`` raises."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def _plain_counts(usage: TokenUsage) -> bool:
    """Whether the input / output counts are absent or non-negative ints, and one is present.

    Then the cost collector's own checks (``_as_int``) and :func:`cost_for` agree on them.
    """
    i, o = usage.input_tokens, usage.output_tokens
    if i is None:
        return type(o) is int and o >= 0
    return type(i) is int and i >= 0 and (o is None or (type(o) is int and o >= 0))


class EventBuilder:
    """Builds events from records; one per worker (not thread-safe, needs no locks)."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.collector_errors: dict[str, int] = {}
        self._warned: set[str] = set()
        # Many events share a trace: format each generated trace id once.
        self._trace_hex: dict[int, str] = {}
        # Most events carry only their decorator's attributes: serialise those once per spec.
        self._spec_json: dict[int, tuple[OperationSpec, str]] = {}
        #: events that went the fast path (plain records straight to rows)
        self.plain_built = 0
        #: values made storable (surrogates, NUL, over-long names; see schema.sanitize)
        self.sanitized_values = 0
        self.build_errors = 0
        self._warned_plain = False
        # (model, response_model) -> the built-in cost collector's price entry (None: not in its
        # table, the collector decides); valid for one (collector, table, table.version)
        self._prices: dict[tuple[str, str | None], ModelPrice | None] = {}
        self._prices_for: tuple[Any, Any, int] | None = None

    def _trace(self, trace: int | str | None) -> str:
        if trace is None or isinstance(trace, str):
            return trace or ""
        cached = self._trace_hex.get(trace)
        if cached is None:
            if len(self._trace_hex) > 50_000:
                self._trace_hex.clear()
            cached = self._trace_hex[trace] = trace_hex(trace)
        return cached

    def _attributes_json(self, spec: OperationSpec) -> str:
        cached = self._spec_json.get(id(spec))
        if cached is None or cached[0] is not spec:
            if len(self._spec_json) > 10_000:
                self._spec_json.clear()
            cached = self._spec_json[id(spec)] = (spec, dumps_attributes(spec.custom_attributes) or "{}")
        return cached[1]

    def _plain_flags(self, records: list[Record]) -> list[bool] | None:
        """Per record, whether nothing but the record shapes its event; ``None``: all of them are plain.

        Plain: the spec has no collectors and no content capture, and the record carries no
        token usage -- or carries a :class:`TokenUsage` and the ``cost`` collector is the built-in
        one, which :meth:`_priced` applies to columns (ingested OTLP spans, adapters' usage).
        """
        default_capture = self.config.capture_content
        refs = set(map(_ref_of, records))  # an index, or an OperationSpec (hashes by identity)
        plain = {r for r in refs if not (s := spec_of(r)).collectors
                 and not (s.capture_content if s.capture_content is not None else default_capture)}
        extras = list(map(_extra_of, records))
        if len(plain) == len(refs) and extras.count(None) == len(extras):
            return None
        priced = self._cost_collector() is not None
        flags = []
        for r, e in zip(records, extras, strict=True):
            usage = None if e is None else e.get("usage")
            flags.append(r[SPEC] in plain and (usage is None or (priced and type(usage) is TokenUsage)))
        return None if all(flags) else flags

    @staticmethod
    def _cost_collector() -> Any:
        """The ``cost`` collector when it is the built-in one (its result on a record is known), else ``None``."""
        from llamonitor.instrumentation.collectors.cost import CostCollector

        collector = CollectorRegistry.get("cost")
        return collector if type(collector) is CostCollector else None

    def _plain_columns(self, records: list[Record]) -> list[Column]:
        from llamonitor.transport.plain import clean_columns, plain_columns

        priced = self._priced(records)
        cols = plain_columns(
            records, default_session=self.config.default_session_id, attributes_json=self._attributes_json,
            safe_text=lambda error: safe_text(error, _MAX_ERROR_MESSAGE),
            added_attributes=priced[0] if priced is not None else None)
        if priced is not None:
            self._usage_columns(cols, priced[1], priced[2])
        self.sanitized_values += clean_columns(cols)
        return cols

    def _priced(self, records: list[Record]) -> tuple[list[dict[str, Any] | None], list[TokenUsage | None],
                                                       list[CostInfo | None]] | None:
        """For records carrying usage: what :meth:`build` gets from the cost collector, without an event.

        Returns, per record, the custom attributes the collector adds (merged after the record's
        own by :func:`~llamonitor.transport.plain.plain_columns`, as :meth:`_merge` does), its
        usage and its cost; ``None`` when no record carries usage. No record is copied: a new
        tuple and two dicts per priced span were a sixth of the build.
        """
        extras = list(map(_extra_of, records))
        if extras.count(None) == len(extras):  # plain decorated calls: no usage anywhere (a C-level test)
            return None
        usages = [None if e is None else e.get("usage") for e in extras]
        if usages.count(None) == len(usages):
            return None
        collector = self._cost_collector()
        added_attrs: list[dict[str, Any] | None] = [None] * len(records)
        costs: list[CostInfo | None] = [None] * len(records)
        price_of = self._price_of(collector)
        for i, (rec, extra, usage) in enumerate(zip(records, extras, usages, strict=True)):
            if usage is None:
                continue
            spec = spec_of(rec[SPEC])
            model = extra.get("model") or spec.model
            answered = extra.get("response_model")
            price = price_of(model, answered)
            if price is not None and type(usage) is TokenUsage and _plain_counts(usage):
                # what CostCollector._collect returns for an own-table model and usage with counts
                cost = cost_for(price, usage)
                assert cost is not None  # a count is present
                cost.estimated = usage.source == "estimate"
                costs[i] = cost
                added_attrs[i] = {"estimated_cost_usd": cost.total_cost_usd, "cost_model": price.model}
                continue
            context = {"operation_name": spec.operation_name, "operation_type": spec.operation_type,
                       "model": model, "response_model": answered,
                       "provider": extra.get("provider") or spec.provider,
                       "custom_attributes": spec.custom_attributes, "usage": usage}
            try:
                found = collector.collect(None, (), {}, context)
            except Exception:  # as _run_collectors: counted, the event is kept without its metrics
                self.collector_errors["cost"] = self.collector_errors.get("cost", 0) + 1
                found = {}
            cost = found.get("cost")
            if isinstance(cost, CostInfo):
                costs[i] = cost
            added = found.get("custom_attributes")
            if added:
                added_attrs[i] = added
        return added_attrs, usages, costs

    def _price_of(self, collector: Any) -> Callable[[Any, Any], ModelPrice | None]:
        """``price_of(model, response_model)``: the built-in cost collector's own-table entry, cached.

        The entry the collector would pick (what answered when its table knows it, else the
        request model); ``None`` when the table knows neither or the ids are not plain strings
        (the collector then runs: fallback prices, ``cost_unknown_model``). The cache is dropped
        when the collector, its table or the table's content (:attr:`PriceTable.version`) change.
        """
        table = collector.table
        key = (collector, table, table.version)
        if self._prices_for != key:
            self._prices_for = key
            self._prices = {}
        prices = self._prices

        def price_of(model: Any, answered: Any) -> ModelPrice | None:
            try:
                return prices[model, answered]
            except KeyError:
                pass
            except TypeError:  # unhashable ids: the collector copes
                return None
            price = None
            if type(model) is str and model.strip() and (answered is None or type(answered) is str):
                price = collector.price_for(model, answered)
            if len(prices) < 10_000:
                prices[model, answered] = price
            return price

        return price_of

    @staticmethod
    def _usage_columns(cols: list[Column], usages: list[TokenUsage | None], costs: list[CostInfo | None]) -> None:
        """Fill the usage and cost columns (and their ``nested_groups`` bits) from :meth:`_priced`."""
        # imported here: the column layout imports pyarrow, which ``import llamonitor`` must not
        from llamonitor.schema.columns import COLUMN_NAMES, PREFIXES

        at = {name: i for i, name in enumerate(COLUMN_NAMES)}
        nested_at = at["nested_groups"]
        for group, values, names in (("usage", usages, _USAGE_FIELDS), ("cost", costs, _COST_FIELDS)):
            if values.count(None) == len(values):
                continue
            # one attrgetter call per value for all its fields, then transposed (zip in C)
            getter, absent = attrgetter(*names), (None,) * len(names)
            per_value = [absent if v is None else getter(v) for v in values]
            for name, column in zip(names, zip(*per_value, strict=True), strict=True):
                cols[at[f"{group}_{name}"]] = list(column)
            bit = 1 << list(PREFIXES).index(group)
            groups = cols[nested_at]
            assert groups is not None
            cols[nested_at] = [g if v is None else g | bit for g, v in zip(groups, values, strict=True)]

    def build_batch(self, records: list[Record], *,
                    to_event: Callable[[tuple[Any, ...]], MetricEvent] | None = None) -> EventBatch:
        """Build a batch: plain records straight to columns, the others to events (see :mod:`~llamonitor.schema.batch`).

        A record is plain when its spec has no collectors and no content capture and it carries
        no token usage (which brings the cost collector). A record that cannot be built is
        counted in :attr:`build_errors` and left out. ``to_event`` makes a plain record's event
        when it is first asked for (default: this builder's :meth:`build`).
        """
        from llamonitor.schema.columns import event_to_row

        plain: list[tuple[Any, ...]] = []
        plain_cols: list[Column] | None = None
        try:
            all_plain = self._plain_flags(records)
            flags = [True] * len(records) if all_plain is None else all_plain
            plain = records if all_plain is None else [r for r, flag in zip(records, flags, strict=True) if flag]
            if plain:
                plain_cols = self._plain_columns(plain)
        except Exception:
            # Unexpected values: the general path takes every record, and counts what it cannot build.
            flags = [False] * len(records)
            plain_cols = None
            if not self._warned_plain:
                self._warned_plain = True
                logger.warning("llamonitor: fast event path failed; building the batch one event at a time "
                               "(logged once)", exc_info=True)
        if plain_cols is not None and len(plain) == len(records):
            self.plain_built += len(plain)
            return EventBatch([None] * len(records), list(records), to_event or self.build, event_to_row,
                              columns=plain_cols)
        plain_rows = iter(columns_to_rows(plain_cols, len(plain)) if plain_cols is not None else ())
        events: list[MetricEvent | None] = []
        rows: list[Row | None] = []
        sources: list[Any] = []
        for rec, flag in zip(records, flags, strict=True):
            if flag and plain_cols is not None:
                rows.append(next(plain_rows))
                events.append(None)
                sources.append(rec)
                self.plain_built += 1
                continue
            try:
                event = self.build(rec)
            except Exception:
                self.build_errors += 1
                if self.build_errors == 1:
                    logger.exception("llamonitor: could not build an event (counted in build_errors)")
                continue
            events.append(event)
            rows.append(None)
            sources.append(None)
        return EventBatch(events, sources, to_event or self.build, event_to_row, rows=rows)

    def build(self, rec: Record) -> MetricEvent:
        (ref, session, trace, span, parent, agent, start_ns, duration_ns,
         args, kwargs, result, error, extra) = rec
        spec_t = spec_of(ref)
        attrs = spec_t.custom_attributes.copy() if spec_t.custom_attributes else {}
        model = spec_t.model
        provider = spec_t.provider
        response_model: str | None = None
        usage: TokenUsage | None = None
        if extra:
            model = extra.get("model") or model
            response_model = extra.get("response_model")
            provider = extra.get("provider") or provider
            usage = extra.get("usage")
            extra_attrs = extra.get("attributes")
            if extra_attrs:
                attrs.update(extra_attrs)
        event = MetricEvent(
            event_id=event_uuid(span, trace) if isinstance(span, int) else str(span),
            session_id=session or self.config.default_session_id,
            trace_id=self._trace(trace),
            span_id=span_hex(span) if isinstance(span, int) else str(span),
            parent_span_id=span_hex(parent) if isinstance(parent, int) else parent,
            operation_name=spec_t.operation_name,
            operation_type=spec_t.operation_type,
            start_time_ns=start_ns,
            end_time_ns=start_ns + duration_ns,
            duration_ms=duration_ns / 1e6,
            model=model,
            response_model=response_model,
            provider=provider,
            usage=usage,
            agent=agent,
            custom_attributes=attrs,
        )
        if extra and "event_id" in extra:
            event.event_id = extra["event_id"]
        if error is not None:
            event.error = True
            event.error_type = type(error).__name__
            event.error_message = safe_text(error, _MAX_ERROR_MESSAGE)
        collectors = spec_t.collectors
        if usage is not None and "cost" not in collectors:
            collectors = (*collectors, "cost")
        if collectors:
            self._run_collectors(event, collectors, spec_t, result, args, kwargs, error)
        capture = spec_t.capture_content if spec_t.capture_content is not None else self.config.capture_content
        if capture:
            self._capture(event, extra, args, kwargs, result)
        self.sanitized_values += clean_event(event)
        return event

    def _run_collectors(self, event: MetricEvent, names: tuple[str, ...], spec: OperationSpec,
                        result: Any, args: Any, kwargs: Any, error: BaseException | None) -> None:
        context = {
            "operation_name": spec.operation_name,
            "operation_type": spec.operation_type,
            "model": event.model,
            "response_model": event.response_model,
            "provider": event.provider,
            "custom_attributes": spec.custom_attributes,
            "measurement": spec.measurement or self.config.measurement,
            "usage": event.usage,
            "error": error,
            "event": event,
        }
        for name in names:
            try:
                out = CollectorRegistry.get(name).collect(result, args or (), kwargs or {}, context)
                if out:
                    self._merge(event, out)
                    context["model"] = event.model
            except Exception:
                self.collector_errors[name] = self.collector_errors.get(name, 0) + 1
                if name not in self._warned:
                    self._warned.add(name)
                    logger.exception("llamonitor: collector %r failed; the event is kept without its "
                                     "metrics (logged once per collector)", name)

    @staticmethod
    def _merge(event: MetricEvent, out: dict[str, Any]) -> None:
        for key, value in out.items():
            if value is None:
                continue
            if key in NESTED:
                if isinstance(value, dict):
                    allowed = NESTED_FIELDS[key]
                    unknown = {k: v for k, v in value.items() if k not in allowed}
                    current = getattr(event, key)
                    base = {f.name: getattr(current, f.name) for f in fields(current)} if current else {}
                    base.update({k: v for k, v in value.items() if k in allowed})
                    value = NESTED[key](**base)
                    if unknown:
                        event.custom_attributes.update(unknown)
                setattr(event, key, value)
            elif key == "custom_attributes":
                event.custom_attributes.update(value)
            elif key in ("model", "response_model", "provider"):
                if getattr(event, key) is None:
                    setattr(event, key, str(value))
            else:
                event.custom_attributes[key] = value

    def _capture(self, event: MetricEvent, extra: dict[str, Any] | None, args: Any, kwargs: Any,
                 result: Any) -> None:
        from llamonitor.measurement import extract_input_text, extract_text

        limit = self.config.max_content_chars
        inp = extra.get("input_content") if extra else None
        out = extra.get("output_content") if extra else None
        system = extra.get("system_instructions") if extra else None
        if inp is None and args is not None:
            inp = extract_input_text(args, kwargs or {}, limit=limit)
        if out is None and result is not None:
            out = extract_text(result, limit=limit)
        redact = self.config.content_redactor
        for name, text in (("input_content", inp), ("output_content", out), ("system_instructions", system)):
            if text is None:
                continue
            text = text[:limit]
            if redact is not None:
                try:
                    text = redact(text)
                except Exception:
                    # A broken redactor must not leak what it was meant to hide.
                    text = "<redaction failed>"
            setattr(event, name, text)
