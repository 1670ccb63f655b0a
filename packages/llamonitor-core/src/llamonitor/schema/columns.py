"""The flat column layout of events: one column per value, row and column conversions.

Every server backend (and the writer's plain fast path, the CSV export and the Parquet writer's
column plan) stores one row per event with the nested groups flattened into columns
(``usage_input_tokens``, ``cost_total_cost_usd``, ``agent_name`` ...) so filters, group-bys and
sums use plain indexed columns instead of JSON extraction. ``nested_groups`` is a bitmask of the
groups that were present, so an absent group and a group whose fields are all null read back
differently, exactly as written. ``custom_attributes`` is JSON (JSONB / JSON / String).
Times are integer Unix-epoch nanoseconds (ClickHouse: ``DateTime64(9)``), exact to the ns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from llamonitor.schema.arrow import EVENT_SCHEMA
from llamonitor.schema.batch import EventBatch, batch_rows
from llamonitor.schema.events import MetricEvent
from llamonitor.schema.sanitize import clean_events
from llamonitor.schema.serialize import NESTED, NESTED_FIELDS, dumps_attributes, loads_attributes

#: nested group -> column prefix
PREFIXES: dict[str, str] = {"text_metrics": "text_", "image_metrics": "image_", "usage": "usage_",
                            "cost": "cost_", "agent": "agent_"}
#: columns that get an index (and a bounded VARCHAR on MySQL)
KEY_COLUMNS = ("event_id", "session_id", "trace_id", "span_id", "parent_span_id", "operation_name",
               "operation_type", "model", "response_model", "provider", "error_type", "agent_name", "agent_id",
               "agent_framework")
#: long free text
TEXT_COLUMNS = ("error_message", "input_content", "output_content", "system_instructions", "agent_task")
#: derived read-only column holding the start time as a timestamp, for the seed's
#: ``ORDER BY timestamp`` queries (see docs/backends/README.md); optional in existing tables
SEED_TIMESTAMP_COLUMN = "timestamp"


@dataclass(frozen=True)
class Column:
    """One stored column: ``kind`` is str, key, text, int, float, bool, ns, json or int32."""

    name: str
    kind: str
    nullable: bool
    group: str | None = None
    field: str | None = None


def _kind(name: str, typ: pa.DataType) -> str:
    if name in KEY_COLUMNS:
        return "key"
    if name in TEXT_COLUMNS:
        return "text"
    if pa.types.is_timestamp(typ):
        return "ns"
    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_int32(typ):
        return "int32"
    if pa.types.is_integer(typ):
        return "int"
    if pa.types.is_floating(typ):
        return "float"
    return "str"


def _column_name(group: str, field: str) -> str:
    prefix = PREFIXES[group]
    return field if field.startswith(prefix) else prefix + field


def _build_columns() -> tuple[Column, ...]:
    cols: list[Column] = []
    for f in EVENT_SCHEMA:
        name = {"start_time": "start_time_ns", "end_time": "end_time_ns"}.get(f.name, f.name)
        if f.name in NESTED:
            for sub in f.type:
                col = _column_name(f.name, sub.name)
                cols.append(Column(col, _kind(col, sub.type), True, f.name, sub.name))
        elif f.name == "custom_attributes":
            cols.append(Column(name, "json", True))
        else:
            cols.append(Column(name, _kind(name, f.type), f.nullable))
        if f.name == "schema_version":
            cols.append(Column("nested_groups", "int32", False))
    return tuple(cols)


COLUMNS: tuple[Column, ...] = _build_columns()
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
COLUMN_BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
_GROUPS = tuple(PREFIXES)
_TOP = tuple(c.name for c in COLUMNS if c.group is None)
assert len(set(COLUMN_NAMES)) == len(COLUMN_NAMES), "flattened column names collide"


def _compile_event_to_row() -> Any:
    # Generated once: one tuple expression per event, no per-column loop (about 3x faster).
    lines = ["def event_to_row(e):"]
    for i, group in enumerate(_GROUPS):
        lines.append(f"    g{i} = e.{group}")
    mask = " | ".join(f"(0 if g{i} is None else {1 << i})" for i in range(len(_GROUPS)))
    items = []
    for col in COLUMNS:
        if col.group is not None:
            i = _GROUPS.index(col.group)
            items.append(f"None if g{i} is None else g{i}.{col.field}")
        elif col.name == "custom_attributes":
            items.append("dumps(e.custom_attributes) or '{}'")
        elif col.name == "nested_groups":
            items.append(mask)
        else:
            items.append(f"e.{col.name}")
    lines.append("    return (" + ", ".join(items) + ",)")
    namespace: dict[str, Any] = {"dumps": dumps_attributes}
    exec(compile("\n".join(lines), "<llamonitor event_to_row>", "exec"), namespace)
    return namespace["event_to_row"]


_event_to_row = _compile_event_to_row()


def event_to_row(event: MetricEvent) -> tuple[Any, ...]:
    """One event as a tuple in :data:`COLUMN_NAMES` order (JSON as text, times as int ns)."""
    row: tuple[Any, ...] = _event_to_row(event)
    return row


def events_to_rows(events: Sequence[MetricEvent]) -> list[tuple[Any, ...]]:
    """:func:`event_to_row` of each event (an :class:`~llamonitor.schema.batch.EventBatch` has its rows)."""
    return batch_rows(events, _event_to_row)


def events_to_columns(events: Sequence[MetricEvent]) -> list[list[Any] | None]:
    """The flat columns of ``events`` (:data:`COLUMN_NAMES` order; ``None``: null for every event).

    Field by field rather than row by row: a nested group absent from every event (usually most
    of them) costs one pass for all its columns.
    """
    n = len(events)
    out: list[list[Any] | None] = []
    groups: dict[str, list[Any] | None] = {}
    for group in _GROUPS:
        present = [getattr(e, group) for e in events]
        groups[group] = None if present.count(None) == n else present
    for col in COLUMNS:
        if col.group is not None:
            objs = groups[col.group]
            field = str(col.field)
            out.append(None if objs is None else [None if o is None else getattr(o, field) for o in objs])
        elif col.name == "custom_attributes":
            out.append([dumps_attributes(e.custom_attributes) or "{}" for e in events])
        elif col.name == "nested_groups":
            mask = [0] * n
            for bit, group in enumerate(_GROUPS):
                members = groups[group]
                if members is not None:
                    mask = [m | (0 if o is None else 1 << bit) for m, o in zip(mask, members, strict=True)]
            out.append(mask)
        else:
            out.append([getattr(e, col.name) for e in events])
    return out


def rows_to_write(events: Sequence[MetricEvent]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """``(column names, rows)`` to insert: a built batch's columns that hold values, else all columns.

    Columns left out are NULL for every event of the batch: the server stores them as NULL (the
    default of every nullable column), and the driver never encodes them.
    """
    if isinstance(events, EventBatch):
        positions, rows = events.compact_rows()
        return tuple(COLUMN_NAMES[i] for i in positions), rows
    clean_events(events)  # built batches are clean already; anything else is made storable here
    return COLUMN_NAMES, events_to_rows(events)


def row_to_event(row: Sequence[Any]) -> MetricEvent:
    """Rebuild an event from a row in :data:`COLUMN_NAMES` order (inverse of :func:`event_to_row`)."""
    values = dict(zip(COLUMN_NAMES, row, strict=True))
    mask = int(values.pop("nested_groups") or 0)
    kwargs: dict[str, Any] = {}
    for name in _TOP:
        if name == "nested_groups":
            continue
        kwargs[name] = values[name]
    attrs = kwargs["custom_attributes"]
    if isinstance(attrs, (bytes, bytearray)):
        attrs = attrs.decode("utf-8")
    kwargs["custom_attributes"] = loads_attributes(attrs) if isinstance(attrs, str) else dict(attrs or {})
    kwargs["error"] = bool(kwargs["error"])
    kwargs["duration_ms"] = float(kwargs["duration_ms"])
    for bit, group in enumerate(_GROUPS):
        if mask & (1 << bit):
            sub = {f: values[_column_name(group, f)] for f in NESTED_FIELDS[group]}
            for key, value in sub.items():
                if isinstance(value, int) and not isinstance(value, bool) and key == "estimated":
                    sub[key] = bool(value)
            kwargs[group] = NESTED[group](**sub)
    return MetricEvent(**kwargs)
