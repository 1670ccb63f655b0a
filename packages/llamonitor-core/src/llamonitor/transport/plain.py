"""The writer's fast path: plain records straight to storage columns.

A *plain* record is one no collector and no content capture will touch (most decorated calls,
and every call whose adapter reports no token usage). Everything its event holds is already in
the record, so the writer builds the batch's columns directly -- one comprehension per column,
no :class:`~llamonitor.schema.events.MetricEvent`, no nested objects, no per-event tuple --
in the flat layout of :mod:`llamonitor.backends.sql_common`. A column that is null for the
whole batch (the text, image, usage and cost groups; usually the agent group, contents and
errors) is not built at all: it is ``None``.

The columns that cost the most per event are built in bulk as Arrow arrays, not lists: the
three id columns (one ``int.to_bytes`` per id, then one hex encoding of the whole batch and
Arrow kernels that slice and join it, without the GIL) and the end time and duration (Arrow
arithmetic). The writer thread holds the GIL -- which the application needs -- only for the
per-record part, about a tenth of what making three Python strings per event cost. Readers that
want lists (the SQL backends' rows) get them through :func:`llamonitor.schema.batch.as_list`.

The values must be exactly those of ``event_to_row(EventBuilder.build(record))``; a test holds
the two paths equal. Imported by the writer thread on its first batch (the column layout
imports pyarrow, which ``import llamonitor`` must not).
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from llamonitor.ids import batch_ids, span_hex
from llamonitor.schema.arrow import WRITER_POOL
from llamonitor.schema.batch import Column
from llamonitor.schema.columns import COLUMN_NAMES, COLUMNS, PREFIXES
from llamonitor.schema.events import SCHEMA_VERSION
from llamonitor.schema.sanitize import LIMITS, clean_column
from llamonitor.schema.serialize import dumps_attributes
from llamonitor.transport.records import spec_of

_AGENT_BIT = 1 << list(PREFIXES).index("agent")
_AGENT_COLUMNS = tuple((COLUMN_NAMES.index(c.name), str(c.field)) for c in COLUMNS if c.group == "agent")
_AT = {name: i for i, name in enumerate(COLUMN_NAMES)}
#: (index, length limit) of every string column the fast path can fill
_STRING_COLUMNS = tuple((i, LIMITS.get(c.name)) for i, c in enumerate(COLUMNS) if c.kind in ("key", "str", "text"))


_SLOTS = tuple(itemgetter(i) for i in range(13))
_to_bytes: Callable[..., bytes] = int.to_bytes


#: batches from this size get their ids from one Arrow scan (see :func:`id_arrays`)
ONE_SCAN_FROM = 4096


def _fixed(data: bytes, width: int, n: int) -> pa.Array:
    """``n`` values of ``width`` bytes each, laid end to end in ``data``, read in place (no copy)."""
    return pa.Array.from_buffers(pa.binary(width), n, [None, pa.py_buffer(data)])


def id_arrays(spans: list[Any], traces: list[Any]) -> tuple[pa.Array, pa.Array, pa.Array] | None:
    """``(span ids, event ids, trace ids)`` as Arrow strings, as :func:`llamonitor.ids.batch_ids` makes them.

    ``None`` unless every span is an int of 64 bits and every trace an int of 128 bits (adapters
    may give string ids: :func:`~llamonitor.ids.batch_ids` takes those). The event id is the
    trace id's first 16 hex digits and the span id's, UUID-shaped.
    """
    n = len(spans)
    if n * 36 >= 2**31:  # int32 offsets of the event ids
        return None
    try:
        trace_hex = binascii.hexlify(b"".join(map(_to_bytes, traces, repeat(16), repeat("big"))))
        span_hex_ = binascii.hexlify(b"".join(map(_to_bytes, spans, repeat(8), repeat("big"))))
    except (TypeError, OverflowError, AttributeError):  # a string or None id, or an int out of range
        return None
    if len(trace_hex) != 32 * n or len(span_hex_) != 16 * n:
        return None
    t, s = _fixed(trace_hex, 32, n), _fixed(span_hex_, 16, n)
    if n >= ONE_SCAN_FROM:
        # One scan evaluates every id expression. Each Arrow call gives the GIL up and must take
        # it back, which can cost the interpreter's switch interval (5 ms) while the application
        # is busy in Python: a big batch (the writer is behind) pays that once, not eight times.
        made = ds.dataset(pa.table({"t": t, "s": s})).to_table(columns=_ID_EXPRESSIONS, use_threads=False,
                                                                memory_pool=WRITER_POOL)
        return made["span"].combine_chunks(), made["event"].combine_chunks(), made["trace"].combine_chunks()
    # Small batches: eight direct calls cost less than a scan's set-up (~0.5 ms).
    pool = WRITER_POOL
    tb, sb = pc.cast(t, pa.binary(), memory_pool=pool), pc.cast(s, pa.binary(), memory_pool=pool)
    parts = [pc.binary_slice(v, a, b, memory_pool=pool) for v, a, b in
             ((tb, 0, 8), (tb, 8, 12), (tb, 12, 16), (sb, 0, 4), (sb, 4, 16))]
    event = pc.binary_join_element_wise(*parts, b"-", memory_pool=pool)
    return sb.view(pa.string()), event.view(pa.string()), tb.view(pa.string())


def _id_expressions() -> dict[str, pc.Expression]:
    t, s = pc.field("t").cast(pa.binary()), pc.field("s").cast(pa.binary())
    event = pc.binary_join_element_wise(*(pc.binary_slice(t, a, b) for a, b in ((0, 8), (8, 12), (12, 16))),
                                        pc.binary_slice(s, 0, 4), pc.binary_slice(s, 4, 16), b"-")
    return {"span": s.cast(pa.string()), "event": event.cast(pa.string()), "trace": t.cast(pa.string())}


_ID_EXPRESSIONS = _id_expressions()


def _same(values: list[Any]) -> bool:
    """Whether every item is the first one (``list.count`` compares in C, by identity first)."""
    return values.count(values[0]) == len(values)


def plain_columns(records: Sequence[tuple[Any, ...]], *, default_session: str,
                  attributes_json: Callable[[Any], str], safe_text: Callable[[Any], str],
                  added_attributes: Sequence[dict[str, Any] | None] | None = None) -> list[Column]:
    """The columns (``sql_common.COLUMN_NAMES`` order) of a non-empty batch of plain records.

    ``attributes_json(spec)`` serialises a spec's own attributes (cached by the caller);
    ``safe_text(error)`` is the event's error message; ``added_attributes`` (one per record, or
    ``None``) are custom attributes a collector adds, after the record's own.
    """
    n = len(records)
    cols: list[Column] = [None] * len(COLUMN_NAMES)
    if set(map(len, records)) != {13}:
        raise ValueError("plain_columns: a record is not 13 slots")
    # One C-level pass per slot read (args, kwargs and result are not: a plain event has none).
    (refs, sessions, traces, spans, parents, agents, starts, durations, errors, extras) = (
        list(map(_SLOTS[i], records)) for i in (0, 1, 2, 3, 4, 5, 6, 7, 11, 12))
    one_spec = _same(refs)
    # A record names its spec by index (records.py): each distinct one is looked up once.
    specs = [spec_of(refs[0])] * n if one_spec else list(map({r: spec_of(r) for r in set(refs)}.__getitem__, refs))
    no_extra = extras.count(None) == n

    bulk = id_arrays(spans, traces)
    ids: Column
    if bulk is not None:
        span_ids, ids, trace_ids = bulk
    else:
        span_ids, ids, trace_ids = batch_ids(spans, traces)
    if not no_extra and any(e and "event_id" in e for e in extras):
        listed = ids if isinstance(ids, list) else ids.to_pylist()
        ids = [e["event_id"] if e and "event_id" in e else i for i, e in zip(listed, extras, strict=True)]
    cols[_AT["event_id"]] = ids
    cols[_AT["session_id"]] = ([default_session] * n if sessions.count(None) == n
                               else [s or default_session for s in sessions])
    cols[_AT["trace_id"]] = trace_ids
    cols[_AT["span_id"]] = span_ids
    if parents.count(None) != n:
        cols[_AT["parent_span_id"]] = [span_hex(p) if isinstance(p, int) else p for p in parents]

    cols[_AT["start_time_ns"]] = starts
    try:  # Arrow arithmetic, without the GIL; Python's when a value does not fit 64 bits
        pool = WRITER_POOL
        arrow_durations = pa.array(durations, type=pa.int64(), memory_pool=pool)
        cols[_AT["end_time_ns"]] = pc.add_checked(pa.array(starts, type=pa.int64(), memory_pool=pool), arrow_durations,
                                                  memory_pool=pool)
        cols[_AT["duration_ms"]] = pc.divide(pc.cast(arrow_durations, pa.float64(), memory_pool=pool), 1e6,
                                             memory_pool=pool)
    except (pa.ArrowException, OverflowError, TypeError):
        cols[_AT["end_time_ns"]] = [s + d for s, d in zip(starts, durations, strict=True)]
        cols[_AT["duration_ms"]] = [d / 1e6 for d in durations]
    if errors.count(None) == n:
        cols[_AT["error"]] = [False] * n
    else:
        cols[_AT["error"]] = [e is not None for e in errors]
        cols[_AT["error_type"]] = [None if e is None else type(e).__name__ for e in errors]
        cols[_AT["error_message"]] = [None if e is None else safe_text(e) for e in errors]

    for name in ("operation_name", "operation_type", "model", "provider"):
        if one_spec:
            value = getattr(specs[0], name)
            column = [value] * n if value is not None else None
        else:
            column = [getattr(s, name) for s in specs]
        if not no_extra and name in ("model", "provider"):
            base = column or [None] * n
            column = [(e.get(name) if e else None) or b for b, e in zip(base, extras, strict=True)]
        if column is not None and column.count(None) != n:
            cols[_AT[name]] = column
    if not no_extra:  # only adapters know what answered: no spec carries it
        answered = [e.get("response_model") if e else None for e in extras]
        if answered.count(None) != n:
            cols[_AT["response_model"]] = answered

    if agents.count(None) != n:
        for at, field in _AGENT_COLUMNS:
            cols[at] = [None if a is None else getattr(a, field) for a in agents]
        cols[_AT["nested_groups"]] = [0 if a is None else _AGENT_BIT for a in agents]
    else:
        cols[_AT["nested_groups"]] = [0] * n

    if one_spec:
        attributes = [attributes_json(specs[0])] * n
    else:
        attributes = [attributes_json(s) for s in specs]
    if not no_extra:
        added = [None] * n if added_attributes is None else added_attributes
        for i, (extra, more) in enumerate(zip(extras, added, strict=True)):
            extra_attrs = extra.get("attributes") if extra else None
            if extra_attrs or more:
                merged = dict(specs[i].custom_attributes)
                if extra_attrs:
                    merged.update(extra_attrs)
                if more:
                    merged.update(more)
                attributes[i] = dumps_attributes(merged) or "{}"
    cols[_AT["custom_attributes"]] = attributes
    cols[_AT["schema_version"]] = [SCHEMA_VERSION] * n
    return cols


def clean_columns(cols: list[Column]) -> int:
    """Sanitise the string columns of a fast-path batch in place (see :mod:`llamonitor.schema.sanitize`).

    Returns how many values changed. Custom attributes are JSON made clean by ``dumps_attributes``.
    """
    changed = 0
    for at, limit in _STRING_COLUMNS:
        column = cols[at]
        if isinstance(column, list):  # the Arrow ones are hex ids: clean by construction
            changed += clean_column(column, limit)
    return changed
