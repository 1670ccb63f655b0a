"""What the server backends share: the flat column layout, row conversion and schema checks.

Every server backend stores one row per event with the nested groups flattened into columns
(``usage_input_tokens``, ``cost_total_cost_usd``, ``agent_name`` ...) so filters, group-bys and
sums use plain indexed columns instead of JSON extraction. ``nested_groups`` is a bitmask of the
groups that were present, so an absent group and a group whose fields are all null read back
differently, exactly as written. ``custom_attributes`` is JSON (JSONB / JSON / String).
Times are integer Unix-epoch nanoseconds (ClickHouse: ``DateTime64(9)``), exact to the ns.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from llamonitor.backends.arrow import EVENT_SCHEMA
from llamonitor.backends.base import StorageBackend
from llamonitor.backends.dsn import BackendConnectionError, mask_dsn, scrub
from llamonitor.backends.identifiers import validate_identifier
from llamonitor.schema.batch import EventBatch, batch_rows
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import SCHEMA_VERSION, MetricEvent
from llamonitor.schema.sanitize import clean_events
from llamonitor.schema.serialize import NESTED, NESTED_FIELDS, dumps_attributes, loads_attributes

logger = logging.getLogger("llamonitor")

#: nested group -> column prefix
PREFIXES: dict[str, str] = {"text_metrics": "text_", "image_metrics": "image_", "usage": "usage_",
                            "cost": "cost_", "agent": "agent_"}
#: columns that get an index (and a bounded VARCHAR on MySQL)
KEY_COLUMNS = ("event_id", "session_id", "trace_id", "span_id", "parent_span_id", "operation_name",
               "operation_type", "model", "response_model", "provider", "error_type", "agent_name", "agent_id",
               "agent_framework")
#: long free text
TEXT_COLUMNS = ("error_message", "input_content", "output_content", "agent_task")
COMMENT_PREFIX = "llamonitor schema_version="


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


def parse_comment_version(comment: str | None) -> int | None:
    """The schema version recorded in a table comment, or ``None``."""
    if not comment:
        return None
    match = re.search(re.escape(COMMENT_PREFIX) + r"(\d+)", comment)
    return int(match.group(1)) if match else None


class MissingDatabaseError(ValueError):
    """The database named in the DSN does not exist and ``create_database`` is off (not retried)."""


class SchemaMismatchError(RuntimeError):
    """An existing table is not the layout this llamonitor writes; nothing was written to it."""


#: columns each schema version added: a table of an older version gains them (``ADD COLUMN``, all
#: nullable, so stored rows read back with ``None``) when a writer starts on it, then its comment
#: records the new version. Nothing else is ever changed in an existing table.
ADDED_COLUMNS: dict[int, tuple[str, ...]] = {2: ("response_model",)}
#: the oldest schema version an existing table may have and still be migrated
OLDEST_MIGRATABLE = 1


@dataclass(frozen=True)
class Migration:
    """What makes an existing table of ``from_version`` current: ``add`` these columns, then
    record :data:`SCHEMA_VERSION` in the table comment."""

    from_version: int
    add: tuple[Column, ...]

    def comment(self) -> str:
        """The table comment to set once the columns exist."""
        return f"{COMMENT_PREFIX}{SCHEMA_VERSION}"


def check_existing_table(where: str, comment: str | None, columns: Sequence[str]) -> Migration | None:
    """``None`` when a table is exactly our layout, a :class:`Migration` when it is an older version
    that only lacks the columns later versions added; raise :class:`SchemaMismatchError` naming
    every difference otherwise."""
    version = parse_comment_version(comment)
    problems: list[str] = []
    present = {c.lower() for c in columns}
    missing = [c for c in COLUMN_NAMES if c not in present]
    addable: set[str] = set()
    if version is None:
        problems.append("it carries no llamonitor schema_version (was it created by something else?)")
    elif version > SCHEMA_VERSION or version < OLDEST_MIGRATABLE:
        problems.append(f"its schema_version is {version}, this llamonitor writes version {SCHEMA_VERSION}")
    else:
        addable = {c for v in range(version + 1, SCHEMA_VERSION + 1) for c in ADDED_COLUMNS.get(v, ())}
    expected = set(COLUMN_NAMES) | {"start_time", "end_time", SEED_TIMESTAMP_COLUMN}
    extra = sorted(c for c in present if c not in expected)
    unfixable = [c for c in missing if c not in addable]
    if unfixable:
        problems.append(f"missing column(s): {', '.join(unfixable)}")
    if extra:
        problems.append(f"unexpected column(s): {', '.join(extra)}")
    if problems:
        raise SchemaMismatchError(
            f"table {where} does not match llamonitor's event schema v{SCHEMA_VERSION}: " + "; ".join(problems)
            + ". Point table_name at a new table, or migrate/drop the old one; nothing was written.")
    assert version is not None
    if version == SCHEMA_VERSION and not missing:
        return None
    return Migration(version, tuple(COLUMN_BY_NAME[c] for c in missing))


class ServerBackend(StorageBackend):
    """Shared plumbing of the server backends: identifiers, DSN masking, lazy connection.

    ``StorageConfig.options["on_connect_error"]``: ``"raise"`` (default) makes ``initialize``
    fail with a clear :class:`BackendConnectionError`; ``"spill"`` lets it succeed, logs a
    warning, and connects on the first write (failed writes are retried, then spilled and
    replayed by the writer, so nothing is lost while the server is away).
    """

    batch_layout = "compact"

    def __init__(self, config: StorageConfig) -> None:
        if not config.connection_string:
            raise ValueError(f"storage.connection_string is required for backend {self.name!r}")
        self.config = config
        self.dsn: str = config.connection_string
        self.table = validate_identifier(config.table_name, field="storage.table_name")
        self.schema = (validate_identifier(config.schema_name, field="storage.schema_name")
                       if config.schema_name else None)
        mode = str(config.options.get("on_connect_error", "raise"))
        if mode not in ("raise", "spill"):
            raise ValueError(f"storage.options['on_connect_error'] must be 'raise' or 'spill'; got {mode!r}")
        self.on_connect_error = mode
        self.ready = False
        self.rows_written = 0

    @property
    def masked_dsn(self) -> str:
        """The connection string with its password replaced by ``***``."""
        return mask_dsn(self.dsn)

    def error(self, action: str, exc: BaseException) -> BackendConnectionError:
        """A connection error for ``action`` naming the masked DSN (never the password)."""
        detail = scrub(f"{type(exc).__name__}: {exc}", self.dsn)
        return BackendConnectionError(f"{self.name} backend: cannot {action} {self.masked_dsn}: {detail}")

    async def setup(self) -> None:
        """Connect and create / check the table (implemented per backend)."""
        raise NotImplementedError

    async def initialize(self) -> None:
        try:
            await self.setup()
        except (SchemaMismatchError, MissingDatabaseError):
            raise
        except Exception as exc:
            err = exc if isinstance(exc, BackendConnectionError) else self.error("connect to", exc)
            if self.on_connect_error == "spill":
                logger.warning("llamonitor: %s; batches will be retried and spilled until it answers", err)
                return
            raise err from None
        self.ready = True

    async def ensure_ready(self) -> None:
        """Connect / create the table now if ``initialize`` could not."""
        if not self.ready:
            try:
                await self.setup()
            except SchemaMismatchError:
                raise
            except Exception as exc:
                raise (exc if isinstance(exc, BackendConnectionError) else self.error("connect to", exc)) from None
            self.ready = True

    async def health(self) -> dict[str, Any]:
        return {"backend": self.name, "dsn": self.masked_dsn, "table": self.table, "ready": self.ready,
                "rows_written": self.rows_written}


class StorageWriteError(RuntimeError):
    """A batch could not be written (the message is scrubbed of passwords); the writer retries.

    ``refused_data`` says the server refused a value (see :mod:`llamonitor.backends.errors`):
    the writer then isolates the refused event instead of retrying the batch.
    """

    def __init__(self, message: str, *, refused_data: bool = False) -> None:
        super().__init__(message)
        self.refused_data = refused_data


#: derived read-only column holding the start time as a timestamp, for the seed's
#: ``ORDER BY timestamp`` queries (see docs/backends/README.md); optional in existing tables
SEED_TIMESTAMP_COLUMN = "timestamp"
