"""Flat event columns to the Arrow table of :data:`~llamonitor.schema.arrow.EVENT_SCHEMA`.

Parquet files, spill files and exports all go through here. The input is the server backends'
flat layout (:mod:`llamonitor.schema.columns`) column by column, which the writer builds
straight from plain records (:class:`~llamonitor.schema.batch.EventBatch`; other events are
converted to rows and transposed once, in C). Each column becomes one ``pa.array`` with its
fixed type (no inference, no drift); a nested group becomes a struct column of its flat
columns, null where the event's ``nested_groups`` bit is clear. A column or group that is null
for the whole batch (usually most of them) becomes one all-null array without a look at values;
a column with one value for the whole batch (the operation, model, attributes... of a batch of
one decorated function) becomes ``pa.repeat`` of it, without converting each Python value; a
column the writer built as an Arrow array already (ids, times) is taken as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from llamonitor.schema.arrow import COLUMN_NAMES as ARROW_NAMES
from llamonitor.schema.arrow import EVENT_SCHEMA, JSON_TYPE, WRITER_POOL
from llamonitor.schema.batch import Column, EventBatch
from llamonitor.schema.columns import COLUMN_NAMES, COLUMNS, PREFIXES, events_to_columns
from llamonitor.schema.events import MetricEvent
from llamonitor.schema.sanitize import clean_events
from llamonitor.schema.serialize import EVENT_FIELDS, NESTED_FIELDS

_INDEX = {name: i for i, name in enumerate(COLUMN_NAMES)}
_MASK_INDEX = _INDEX["nested_groups"]
_I64 = pa.int64()


def _plan() -> list[tuple[str, pa.DataType, Any]]:
    """Per Arrow column: (kind, type, flat column index or (group bit, child indexes))."""
    by_group = {(c.group, c.field): _INDEX[c.name] for c in COLUMNS if c.group is not None}
    plan: list[tuple[str, pa.DataType, Any]] = []
    for name in EVENT_FIELDS:
        typ = EVENT_SCHEMA.field(ARROW_NAMES[name]).type
        if name in NESTED_FIELDS:
            bit = 1 << list(PREFIXES).index(name)
            plan.append(("struct", typ, (bit, [by_group[(name, sub)] for sub in NESTED_FIELDS[name]])))
        elif name == "custom_attributes":
            plan.append(("json", typ, _INDEX[name]))
        elif pa.types.is_timestamp(typ):
            plan.append(("time", typ, _INDEX[name]))
        else:
            plan.append(("plain", typ, _INDEX[name]))
    return plan


_PLAN = _plan()


def batch_columns(events: Sequence[MetricEvent]) -> list[Column]:
    """The flat columns of ``events`` (an :class:`EventBatch` has them; others are converted)."""
    if isinstance(events, EventBatch):
        return events.columns
    clean_events(events)  # built batches are clean already; anything else is made storable here
    return events_to_columns(events)


def columns_to_table(columns: Sequence[Column], n: int) -> pa.Table:
    """The Arrow table (fixed schema) of ``n`` events' flat columns (``None``: all null)."""
    if not n:
        return EVENT_SCHEMA.empty_table()
    masks = columns[_MASK_INDEX]
    present = 0
    for mask in set(masks or ()):  # a handful of distinct masks per batch
        present |= mask
    arrays: list[pa.Array] = []
    for kind, typ, where in _PLAN:
        if kind == "struct":
            bit, children = where
            if not present & bit:
                arrays.append(pa.nulls(n, type=typ, memory_pool=WRITER_POOL))
                continue
            assert masks is not None
            child_arrays = [_array(_values(columns[i], n), typ.field(k).type) for k, i in enumerate(children)]
            absent = None
            if any(not m & bit for m in masks):
                absent = pa.array([not m & bit for m in masks], type=pa.bool_(), memory_pool=WRITER_POOL)
            arrays.append(pa.StructArray.from_arrays(child_arrays, fields=list(typ), mask=absent,
                                                     memory_pool=WRITER_POOL))
        elif columns[where] is None:
            arrays.append(pa.nulls(n, type=typ, memory_pool=WRITER_POOL))
        elif kind == "time":
            arrays.append(pc.cast(_array(columns[where], _I64), typ, memory_pool=WRITER_POOL))
        elif kind == "json":
            arrays.append(pa.ExtensionArray.from_storage(JSON_TYPE, _array(columns[where], _STR)))
        else:
            arrays.append(_array(columns[where], typ))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


_STR = pa.string()
#: kinds worth a look for one repeated value: converting a string is the costly part
_REPEATABLE = (pa.string(), pa.bool_(), pa.int32())


def _array(column: Any, typ: pa.DataType) -> pa.Array:
    """One flat column as an Arrow array of ``typ``."""
    if isinstance(column, pa.Array):
        return column if column.type == typ else pc.cast(column, typ, memory_pool=WRITER_POOL)
    first = column[0]
    # ``list.count`` compares by identity first: a column made as ``[value] * n`` is checked in C
    # at a few ns per value, then ``pa.repeat`` writes it without converting n Python values.
    if first is not None and typ in _REPEATABLE and column.count(first) == len(column):
        return pa.repeat(pa.scalar(first, type=typ), len(column), memory_pool=WRITER_POOL)
    return pa.array(column, type=typ, memory_pool=WRITER_POOL)


def _values(column: Column, n: int) -> list[Any]:
    return [None] * n if column is None else column


def events_to_table(events: Sequence[MetricEvent]) -> pa.Table:
    """The Arrow table of ``events`` (through their flat columns: one conversion path for every writer)."""
    return columns_to_table(batch_columns(events), len(events))
