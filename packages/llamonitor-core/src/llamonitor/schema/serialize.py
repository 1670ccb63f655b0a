"""Events to and from plain dicts / JSON (replay files, APIs, exporters)."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime, timezone
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from llamonitor.schema.events import (
    AgentIdentity,
    CostInfo,
    ImageMetrics,
    MetricEvent,
    TextMetrics,
    TokenUsage,
    datetime_to_ns,
)
from llamonitor.schema.sanitize import clean_json, has_non_finite_token

#: nested field name -> dataclass
NESTED: dict[str, type[Any]] = {
    "text_metrics": TextMetrics,
    "image_metrics": ImageMetrics,
    "usage": TokenUsage,
    "cost": CostInfo,
    "agent": AgentIdentity,
}
NESTED_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in fields(cls)) for name, cls in NESTED.items()
}
EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MetricEvent))


def _safe_default(value: Any) -> Any:
    # json.dumps fallback: never raise on hostile values (objects whose __str__ raises).
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:1000]).decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    try:
        return str(value)[:1000]
    except Exception:
        return f"<unprintable {type(value).__name__}>"


# One encoder for every event: json.dumps with options builds a new JSONEncoder per call.
_encode = json.JSONEncoder(ensure_ascii=False, default=_safe_default).encode

# ``_encode``'s C encoder, made once: JSONEncoder.encode still builds a new one, a markers dict and
# a closure on every call (half the cost of a usual attributes dict). No circular-reference
# markers: a cycle ends in RecursionError instead of ValueError, and both take the same fallback.
_c_encode = None if c_make_encoder is None else c_make_encoder(
    None, _safe_default, encode_basestring, None, ": ", ", ", False, False, True)


def _encode_fast(attrs: dict[str, Any]) -> str:
    """``_encode(attrs)``: the same text, and the same errors but for a cycle's (see ``_c_encode``)."""
    if _c_encode is None:  # an interpreter without the C accelerator
        return _encode(attrs)
    return "".join(_c_encode(attrs, 0))


def dumps_attributes(attrs: dict[str, Any] | None) -> str | None:
    """JSON for a custom-attributes dict; never raises (cycles and odd objects are replaced)."""
    if not attrs:
        return None if attrs is None else "{}"
    try:
        text = _encode_fast(attrs)
    except (ValueError, TypeError, RecursionError):
        pass
    else:
        # Cheap scans; the slow path only for NaN / Infinity, surrogates or NUL (see schema.sanitize).
        if has_non_finite_token(text) or "\\u0000" in text or not text.isascii():
            return clean_json(text, attrs, _encode)
        return text
    try:
        # Cyclic or otherwise unserialisable: keep what can be kept, key by key.
        safe: dict[str, Any] = {}
        for key, value in attrs.items():
            try:
                json.dumps(value, default=_safe_default)
                safe[str(key)] = value
            except Exception:
                safe[str(key)] = _safe_default(value) if not isinstance(value, (dict, list)) else "<cyclic>"
        return clean_json(json.dumps(safe, default=_safe_default, ensure_ascii=False), safe, _encode)
    except Exception:  # pragma: no cover - keys that cannot even be made strings
        return "{}"


def loads_attributes(text: str | None) -> dict[str, Any]:
    """Parse custom attributes JSON (empty dict for null)."""
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}


def _nested_to_dict(obj: Any, names: tuple[str, ...]) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {n: getattr(obj, n) for n in names}


def event_to_dict(event: MetricEvent, *, iso_times: bool = True) -> dict[str, Any]:
    """A JSON-friendly dict of ``event``: nested groups as dicts, ``start_time`` / ``end_time``
    (and the seed's ``timestamp``) as ISO-8601 strings (datetimes with ``iso_times=False``),
    plus the exact ``start_time_ns`` / ``end_time_ns``."""
    out: dict[str, Any] = {}
    for name in EVENT_FIELDS:
        value = getattr(event, name)
        if name in NESTED_FIELDS:
            value = _nested_to_dict(value, NESTED_FIELDS[name])
        out[name] = value
    for name in ("start_time", "end_time"):
        value = getattr(event, name)
        out[name] = value.isoformat() if iso_times else value
    out["timestamp"] = out["start_time"]
    return out


def _parse_time(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    raise ValueError(f"{field} must be a datetime or ISO-8601 string; got {type(value).__name__}")


def event_from_dict(data: dict[str, Any]) -> MetricEvent:
    """Rebuild an event from :func:`event_to_dict` output; ``ValueError`` names a bad field."""
    if not isinstance(data, dict):
        raise ValueError(f"event must be an object; got {type(data).__name__}")
    kwargs: dict[str, Any] = {}
    for name in EVENT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name in NESTED and value is not None:
            if not isinstance(value, dict):
                raise ValueError(f"{name} must be an object or null")
            allowed = NESTED_FIELDS[name]
            value = NESTED[name](**{k: v for k, v in value.items() if k in allowed})
        elif name == "custom_attributes":
            value = loads_attributes(value) if isinstance(value, str) else dict(value or {})
        kwargs[name] = value
    for name in ("start_time", "end_time"):
        if f"{name}_ns" not in kwargs and data.get(name) is not None:
            kwargs[f"{name}_ns"] = datetime_to_ns(_parse_time(data[name], name))
    missing = [n for n in ("event_id", "session_id", "trace_id", "span_id", "operation_name",
                           "start_time_ns", "end_time_ns", "duration_ms") if n not in kwargs]
    if missing:
        raise ValueError(f"event is missing required field(s): {', '.join(missing)}")
    return MetricEvent(**kwargs)
