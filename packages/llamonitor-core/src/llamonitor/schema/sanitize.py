"""Per-value sanitising: every stored string valid UTF-8, every JSON number finite, names bounded.

A value that a storage engine refuses must cost at most itself, never its batch. The writer
cleans each value once, when it builds a batch (so every sink, spill file and exporter gets the
same clean value), with the same rules for every backend:

- a lone surrogate (``"\\ud800"``, which UTF-8 cannot encode) becomes U+FFFD; a surrogate *pair*
  left as two code points is joined into the character it encodes;
- NUL (``"\\x00"``, which PostgreSQL text and JSON cannot hold) becomes U+FFFD;
- ``NaN`` / ``Infinity`` in custom attributes become JSON ``null`` (standard JSON has neither);
- identifiers are cut to :data:`LIMITS` characters, ending in :data:`CUT_MARKER`: ids
  (event / session / trace / span ids) to 255, other indexed names (operation, model, provider,
  agent, error type) to 512, the sizes MariaDB's indexed ``VARCHAR`` columns hold and that stay
  under PostgreSQL's 2,704-byte index row limit in UTF-8;
- a non-string in a string field is stored as its ``str()``.

The normal path stays cheap: a whole column is checked with a few C-level scans (one join, one
``isascii``, one ``max(map(len))``) and only a column that fails is fixed value by value.
Every value changed is counted (``health()["sanitized_values"]``).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import replace
from operator import attrgetter
from typing import Any

#: what replaces a character no store can hold
REPLACEMENT = "\ufffd"
#: the last character of a value cut to its column's limit
CUT_MARKER = "…"
ID_LIMIT = 255
NAME_LIMIT = 512
_ID_COLUMNS = ("event_id", "session_id", "trace_id", "span_id", "parent_span_id")
_NAME_COLUMNS = ("operation_name", "operation_type", "model", "response_model", "provider", "error_type",
                 "agent_name", "agent_id", "agent_framework")
#: stored column -> longest value in characters (columns not named here are unbounded text)
LIMITS: dict[str, int] = {**dict.fromkeys(_ID_COLUMNS, ID_LIMIT), **dict.fromkeys(_NAME_COLUMNS, NAME_LIMIT)}


def clean_text(value: object, limit: int | None = None) -> str:
    """``value`` as a storable string (see the module docs); returns the same object when clean."""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:
            value = f"<unprintable {type(value).__name__}>"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # UTF-16 joins valid surrogate pairs and replaces lone surrogates with U+FFFD.
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT)
    if limit is not None and len(value) > limit:
        value = value[:limit - 1] + CUT_MARKER
    return value


def _text_is_clean(joined: str) -> bool:
    """Whether a string (often many values joined) is valid UTF-8 without NUL (C-speed scans)."""
    if not joined.isascii():
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return "\x00" not in joined


def _column_is_clean(values: list[Any], limit: int | None) -> bool:
    first = values[0]
    if values.count(first) == len(values):  # one value repeated (one decorator, one session): check it once
        return first is None or (type(first) is str and _text_is_clean(first)
                                 and (limit is None or len(first) <= limit))
    try:
        joined = "".join(values)
        present: list[Any] = values
    except TypeError:  # None among the values, or a non-string
        present = [v for v in values if v is not None]
        try:
            joined = "".join(present)
        except TypeError:
            return False
    if not _text_is_clean(joined):
        return False
    return limit is None or len(joined) <= limit or max(map(len, present)) <= limit


def clean_column(values: list[Any], limit: int | None = None) -> int:
    """Clean a column of ``str | None`` values in place; returns how many values changed."""
    if _column_is_clean(values, limit):
        return 0
    changed = 0
    for i, value in enumerate(values):
        if value is None:
            continue
        cleaned = clean_text(value, limit)
        if cleaned is not value:
            values[i] = cleaned
            changed += 1
    return changed


def clean_json_text(text: str) -> tuple[str, bool]:
    """A JSON document's text with surrogates / NUL made storable; ``(text, changed)``.

    NUL appears in JSON as the escape ``\\u0000`` (PostgreSQL's ``jsonb`` refuses it): replaced by
    the escape of U+FFFD. Surrogates inside JSON strings are replaced like in plain text.
    """
    cleaned = clean_text(text)
    if "\\u0000" in cleaned:
        cleaned = cleaned.replace("\\u0000", "\\ufffd")
    return cleaned, cleaned != text


def finite_json_value(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (recursively through dicts and lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json_value(v) for v in value]
    return value


def has_non_finite_token(json_text: str) -> bool:
    """Whether a JSON text written by Python may hold ``NaN`` / ``Infinity`` (cheap substring test)."""
    return "NaN" in json_text or "Infinity" in json_text


_ID_FIELDS = attrgetter(*_ID_COLUMNS)
_NAME_FIELDS = attrgetter("operation_name", "operation_type", "model", "response_model", "provider", "error_type")
_FREE_FIELDS = attrgetter("error_message", "input_content", "output_content", "system_instructions")
_AGENT_NAMES = ("agent_name", "agent_id", "framework")
_AGENT_FIELDS = attrgetter(*_AGENT_NAMES, "agent_role", "task", "graph_node", "handoff_from")


def _group_is_clean(values: tuple[Any, ...], limit: int | None) -> bool:
    # Joined, a group is checked in a few C calls; within the limit in total, each value is too.
    try:
        joined = "".join(filter(None, values))
    except TypeError:
        return False
    if not _text_is_clean(joined):
        return False
    return limit is None or len(joined) <= limit or all(v is None or len(v) <= limit for v in values)


def _event_is_clean(event: Any) -> bool:
    if not (_group_is_clean(_ID_FIELDS(event), ID_LIMIT) and _group_is_clean(_NAME_FIELDS(event), NAME_LIMIT)
            and _group_is_clean(_FREE_FIELDS(event), None)):
        return False
    agent = event.agent
    if agent is None:
        return True
    values = _AGENT_FIELDS(agent)
    return _group_is_clean(values[:3], NAME_LIMIT) and _group_is_clean(values[3:], None)


def clean_event(event: Any, fields: Iterable[str] = ()) -> int:
    """Clean the string fields of one event (and its agent group) in place; returns values changed.

    ``fields`` adds more top-level string fields to the ones always checked.
    """
    if not fields and _event_is_clean(event):  # the usual case, in a few C-level scans
        return 0
    changed = 0
    for name in (*_ID_COLUMNS, "operation_name", "operation_type", "model", "response_model", "provider",
                 "error_type", "error_message", "input_content", "output_content", "system_instructions", *fields):
        value = getattr(event, name, None)
        if value is None:
            continue
        cleaned = clean_text(value, LIMITS.get(name))
        if cleaned is not value:
            setattr(event, name, cleaned)
            changed += 1
    agent = event.agent
    if agent is not None:
        fixed: dict[str, str] = {}
        for name in ("agent_name", "agent_id", "framework", "agent_role", "task", "graph_node", "handoff_from"):
            value = getattr(agent, name, None)
            if value is None:
                continue
            cleaned = clean_text(value, LIMITS.get(name if name.startswith("agent_") else f"agent_{name}"))
            if cleaned is not value:
                fixed[name] = cleaned
        if fixed:  # a copy: the identity object is shared with the caller's context
            event.agent = replace(agent, **fixed)
            changed += len(fixed)
    return changed


_json_lock = threading.Lock()
_json_fixed = 0


def clean_json(text: str, value: Any, encode: Any) -> str:
    """``text`` (``encode(value)``) made storable: non-finite numbers re-encoded as null, then
    surrogates / NUL replaced. Counted in :func:`json_values_fixed`."""
    global _json_fixed
    fixed = text
    if has_non_finite_token(text):
        fixed = encode(finite_json_value(value))
    fixed, _ = clean_json_text(fixed)
    if fixed != text:
        with _json_lock:
            _json_fixed += 1
    return fixed


def json_values_fixed() -> int:
    """How many JSON documents (custom attributes) :func:`clean_json` had to change in this process."""
    return _json_fixed


def clean_events(events: Iterable[Any]) -> int:
    """:func:`clean_event` on each event (in place): for events that did not come from the writer's
    builder (a backend given a plain list, a replayed file); returns values changed."""
    return sum(clean_event(event) for event in events)


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str) -> str:
    """A file-system-safe folder name (no separators, no dot-dot), at most 100 characters."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip(".")
    return cleaned[:100] or "sink"


def session_partition(session_id: str | None) -> str:
    """The Parquet folder of a session (``partition_by="session_id"``).

    Never starts with ``_`` or ``.``: readers (``pyarrow.dataset``, Spark, DuckDB) skip such
    folders as hidden, so a session named ``@alice`` (``_alice``) would be written and never read.
    Such names get an ``s`` in front (``s_alice``). Different sessions may share a folder (``@a``,
    ``#a``); queries filter on the ``session_id`` column too, so that only costs pruning.
    """
    name = safe_name(session_id or "default")
    return "s" + name[:99] if name.startswith(("_", ".")) else name
