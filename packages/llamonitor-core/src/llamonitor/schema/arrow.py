"""The one Arrow schema every Parquet file (and spill file) uses, and conversions.

The schema is fixed: every column exists in every file with the same type, whatever the batch
holds, so datasets never drift. ``custom_attributes`` is JSON text wrapped in the
``llamonitor.json`` extension type: readers that imported llamonitor get dicts in pandas,
others get the JSON string.
"""

from __future__ import annotations

import atexit
from typing import Any

import pyarrow as pa

from llamonitor.schema.events import MetricEvent
from llamonitor.schema.serialize import (
    EVENT_FIELDS,
    NESTED,
    NESTED_FIELDS,
    loads_attributes,
)


class JsonType(pa.ExtensionType):  # type: ignore[misc]
    """JSON text stored as a string column; pandas sees parsed objects."""

    def __init__(self) -> None:
        super().__init__(pa.string(), "llamonitor.json")

    def __arrow_ext_serialize__(self) -> bytes:
        return b""

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type: pa.DataType, serialized: bytes) -> JsonType:
        # Always the module's one instance, never a new one: every schema Arrow reads from a file
        # then shares it, so the last reference is this module's, dropped by the main thread.
        # A fresh instance per file dies with whatever holds it -- sometimes a dataset scan's
        # callback finishing on an Arrow pool thread while the interpreter exits, where taking
        # the GIL to free it aborts the process ("terminate called without an active exception").
        return JSON_TYPE

    def to_pandas_dtype(self) -> Any:
        from llamonitor.schema._pandas_json import JsonDtype

        return JsonDtype()


JSON_TYPE = JsonType()
try:
    pa.register_extension_type(JSON_TYPE)
except pa.ArrowKeyError:  # already registered (module reloaded)
    pass


def _unregister_json_type() -> None:
    # Arrow's C++ registry would otherwise drop its reference after the interpreter has
    # finalised (see __arrow_ext_deserialize__); pyarrow unregisters its own types the same way.
    try:
        pa.unregister_extension_type(JSON_TYPE.extension_name)
    except (KeyError, pa.ArrowException):
        pass


atexit.register(_unregister_json_type)

#: the Arrow pool the writer allocates from: the system allocator, not the default (mimalloc or
#: jemalloc). Those keep freed pages mapped (mimalloc marks them ``MADV_FREE``: still counted in
#: RSS) so one burst of events left ~20 MB a process never used again; glibc's pages go back to
#: the OS through ``malloc_trim`` (``transport/memory.py``). Buffers remember their pool, so
#: arrays made here mix freely with the application's own.
WRITER_POOL = pa.system_memory_pool()

_TS = pa.timestamp("ns", tz="UTC")
_I = pa.int64()
_S = pa.string()
_F = pa.float64()
_B = pa.bool_()

_NESTED_TYPES: dict[str, pa.StructType] = {
    "text_metrics": pa.struct([
        ("char_count", _I), ("word_count", _I), ("byte_size", _I), ("line_count", _I),
        ("input_char_count", _I), ("output_char_count", _I), ("input_tokens", _I),
        ("output_tokens", _I), ("total_tokens", _I), ("token_reliability", _S), ("tokenizer", _S),
        ("measurement_mode", _S),
    ]),
    "image_metrics": pa.struct([
        ("image_count", _I), ("total_pixels", _I), ("file_size_bytes", _I), ("formats", _S),
    ]),
    "usage": pa.struct([
        ("input_tokens", _I), ("output_tokens", _I), ("total_tokens", _I), ("cached_input_tokens", _I),
        ("cache_creation_input_tokens", _I), ("reasoning_tokens", _I), ("source", _S),
    ]),
    "cost": pa.struct([
        ("input_cost_usd", _F), ("output_cost_usd", _F), ("total_cost_usd", _F), ("currency", _S),
        ("price_source", _S), ("estimated", _B),
    ]),
    "agent": pa.struct([
        ("framework", _S), ("agent_id", _S), ("agent_name", _S), ("agent_role", _S), ("task", _S),
        ("graph_node", _S), ("graph_step", _I), ("handoff_from", _S),
    ]),
}

_TOP_TYPES: dict[str, pa.DataType] = {
    "event_id": _S, "session_id": _S, "trace_id": _S, "span_id": _S, "operation_name": _S,
    "start_time_ns": _TS, "end_time_ns": _TS, "duration_ms": _F, "parent_span_id": _S,
    "operation_type": _S, "error": _B, "error_type": _S, "error_message": _S, "model": _S,
    "response_model": _S, "provider": _S, "input_content": _S, "output_content": _S,
    "system_instructions": _S, "custom_attributes": JSON_TYPE,
    "schema_version": pa.int32(),
}

_NOT_NULL = {"event_id", "session_id", "trace_id", "span_id", "operation_name", "start_time_ns",
             "end_time_ns", "duration_ms", "error", "schema_version"}
#: event field -> column name (times are stored as timestamp columns named like the seed's)
COLUMN_NAMES: dict[str, str] = {name: name for name in EVENT_FIELDS} | {
    "start_time_ns": "start_time", "end_time_ns": "end_time"}
_FIELD_OF_COLUMN = {column: name for name, column in COLUMN_NAMES.items()}

EVENT_SCHEMA = pa.schema([
    pa.field(COLUMN_NAMES[name], _NESTED_TYPES[name] if name in _NESTED_TYPES else _TOP_TYPES[name],
             nullable=name not in _NOT_NULL)
    for name in EVENT_FIELDS
], metadata={b"llamonitor.schema": b"MetricEvent"})

# Guard: the Arrow struct layouts must list exactly the dataclass fields.
for _name, _struct in _NESTED_TYPES.items():
    assert tuple(_struct.field(i).name for i in range(_struct.num_fields)) == NESTED_FIELDS[_name], _name


def warm_up() -> None:
    """Pay pyarrow's one-time lazy initialisation (about a second when pandas is installed).

    The worker calls this right after start-up so the first real batch is not slowed down.
    """
    from llamonitor.schema.columnar import events_to_table

    events_to_table([])
    pa.array(["warm"], type=_S)


def _storage(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if isinstance(column.type, pa.ExtensionType):
        return pa.chunked_array([c.storage for c in column.chunks], type=column.type.storage_type)
    return column


def table_to_events(table: pa.Table) -> list[MetricEvent]:
    """Rebuild events from a table written with :data:`EVENT_SCHEMA` (missing columns -> defaults)."""
    names = set(table.column_names)
    cols: dict[str, list[Any]] = {}
    for column in table.column_names:
        name = _FIELD_OF_COLUMN.get(column)
        if name is None:
            continue
        data = _storage(table.column(column))
        if pa.types.is_timestamp(data.type):
            data = data.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
        cols[name] = data.to_pylist()
    del names
    events: list[MetricEvent] = []
    for i in range(table.num_rows):
        kwargs: dict[str, Any] = {}
        for name, values in cols.items():
            value = values[i]
            if name in NESTED and value is not None:
                value = NESTED[name](**value)
            elif name == "custom_attributes":
                value = loads_attributes(value) if isinstance(value, str) else (value or {})
            kwargs[name] = value
        events.append(MetricEvent(**kwargs))
    return events
