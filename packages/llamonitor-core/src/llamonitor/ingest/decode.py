"""OTLP/HTTP trace bodies -> :class:`OtlpSpan` (protobuf via ``opentelemetry-proto``, JSON by hand).

OTLP/JSON differs from protobuf's canonical JSON mapping: trace and span ids are hex strings,
enums are integers and 64-bit integers may be strings, so it is read here rather than with
``json_format``. Every malformed body raises :class:`DecodeError` with a reason and the HTTP
status to answer (400, 413 or 415); nothing else escapes.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

#: largest accepted body as sent, and once decompressed (a gzip bomb stops at the second)
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class DecodeError(ValueError):
    """A body that cannot be read; ``status`` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class OtlpSpan:
    """One span, read from either encoding; ids are lower-case hex (``parent_span_id`` None at a root)."""

    __slots__ = ("attributes", "end_ns", "exception_type", "kind", "name", "parent_span_id", "resource",
                 "scope", "span_id", "start_ns", "status_code", "status_message", "trace_id")

    def __init__(self, trace_id: str, span_id: str, parent_span_id: str | None, name: str, kind: int,
                 start_ns: int, end_ns: int, attributes: dict[str, Any], status_code: int,
                 status_message: str, exception_type: str | None, resource: dict[str, Any], scope: str) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.name = name
        self.kind = kind
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.attributes = attributes
        self.status_code = status_code
        self.status_message = status_message
        self.exception_type = exception_type
        self.resource = resource
        self.scope = scope

    def __repr__(self) -> str:
        return f"OtlpSpan({self.name!r}, trace={self.trace_id}, span={self.span_id})"


def decode_body(body: bytes, content_type: str | None, content_encoding: str | None = None) -> list[OtlpSpan]:
    """The spans of an ``ExportTraceServiceRequest`` body; raises :class:`DecodeError`."""
    if len(body) > MAX_BODY_BYTES:
        raise DecodeError(f"body of {len(body)} bytes exceeds the limit of {MAX_BODY_BYTES}", 413)
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body)
    elif encoding not in ("identity", ""):
        raise DecodeError(f"unsupported Content-Encoding {content_encoding!r} (use gzip or none)", 415)
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == PROTOBUF:
        return decode_protobuf(body)
    if media == JSON:
        try:
            return decode_json(body)
        except (AttributeError, TypeError, KeyError) as exc:  # a shape the checks above did not foresee
            raise DecodeError(f"malformed OTLP/JSON request: {type(exc).__name__}: {exc}") from None
    raise DecodeError(f"unsupported Content-Type {content_type!r}: send {PROTOBUF} or {JSON}", 415)


def _gunzip(body: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise DecodeError(f"body is not valid gzip: {exc}") from None
    if len(out) > MAX_DECOMPRESSED_BYTES or inflater.unconsumed_tail:
        raise DecodeError(f"decompressed body exceeds the limit of {MAX_DECOMPRESSED_BYTES} bytes", 413)
    if not inflater.eof:
        raise DecodeError("body is truncated gzip")
    return out


# -- protobuf ------------------------------------------------------------------------------------

def decode_protobuf(body: bytes) -> list[OtlpSpan]:
    """Spans of a protobuf ``ExportTraceServiceRequest``."""
    from google.protobuf.message import DecodeError as ProtoDecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (ProtoDecodeError, ValueError, RuntimeError) as exc:
        raise DecodeError(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    return spans_of_request(request)


def spans_of_request(request: Any) -> list[OtlpSpan]:
    """Spans of a decoded ``ExportTraceServiceRequest`` message (HTTP and gRPC share this)."""
    out: list[OtlpSpan] = []
    append = out.append
    for rs in request.resource_spans:
        resource = _pb_attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for sp in ss.spans:
                parent = sp.parent_span_id
                exc_type = None
                for ev in sp.events:
                    if ev.name == "exception":
                        exc_type = _pb_attrs(ev.attributes).get("exception.type")
                status = sp.status
                append(OtlpSpan(sp.trace_id.hex(), sp.span_id.hex(), parent.hex() if parent else None, sp.name,
                                sp.kind, sp.start_time_unix_nano, sp.end_time_unix_nano, _pb_attrs(sp.attributes),
                                status.code, status.message,
                                str(exc_type) if exc_type is not None else None, resource, scope))
    return out


_SCALARS = frozenset(("string_value", "int_value", "double_value", "bool_value"))


def _pb_attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    scalars = _SCALARS
    for kv in kvs:
        v = kv.value
        text = v.string_value  # most values are strings: one read instead of WhichOneof + getattr
        if text:
            out[kv.key] = text
            continue
        which = v.WhichOneof("value")
        out[kv.key] = getattr(v, which) if which in scalars else _pb_value(v)
    return out


def _pb_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which in _SCALARS:
        return getattr(v, which)
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return None


# -- JSON ----------------------------------------------------------------------------------------

def decode_json(body: bytes) -> list[OtlpSpan]:
    """Spans of an OTLP/JSON ``ExportTraceServiceRequest``."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DecodeError("body must be a JSON object with 'resourceSpans'")
    out: list[OtlpSpan] = []
    for i, rs in enumerate(_list(doc, "resourceSpans", "resource_spans", where="request")):
        where = f"resourceSpans[{i}]"
        resource = _json_attrs(_obj(rs, where).get("resource") or {}, where + ".resource")
        for j, ss in enumerate(_list(rs, "scopeSpans", "scope_spans", where=where)):
            swhere = f"{where}.scopeSpans[{j}]"
            scope_obj = _obj(ss, swhere).get("scope") or {}
            scope = str(scope_obj.get("name") or "") if isinstance(scope_obj, dict) else ""
            for k, sp in enumerate(_list(ss, "spans", where=swhere)):
                out.append(_json_span(_obj(sp, f"{swhere}.spans[{k}]"), f"{swhere}.spans[{k}]", resource, scope))
    return out


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DecodeError(f"{where} must be an object")
    return value


def _list(obj: Any, *keys: str, where: str) -> list[Any]:
    for key in keys:
        if key in obj:
            value = obj[key]
            if value is None:
                return []
            if not isinstance(value, list):
                raise DecodeError(f"{where}.{key} must be an array")
            return value
    return []


def _hex_id(value: Any, size: int, field: str, where: str, required: bool) -> str | None:
    if value in (None, ""):
        if required:
            raise DecodeError(f"{where}.{field} is missing")
        return None
    if not isinstance(value, str) or len(value) != size * 2:
        raise DecodeError(f"{where}.{field} must be {size * 2} hex characters")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise DecodeError(f"{where}.{field} must be {size * 2} hex characters") from None
    if not any(raw):
        if required:
            raise DecodeError(f"{where}.{field} must not be all zeros")
        return None
    return value.lower()


def _int(value: Any, field: str, where: str, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise DecodeError(f"{where}.{field} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DecodeError(f"{where}.{field} must be an integer (a string for 64-bit values)") from None


def _json_span(sp: dict[str, Any], where: str, resource: dict[str, Any], scope: str) -> OtlpSpan:
    trace_id = _hex_id(sp.get("traceId", sp.get("trace_id")), 16, "traceId", where, True)
    span_id = _hex_id(sp.get("spanId", sp.get("span_id")), 8, "spanId", where, True)
    parent = _hex_id(sp.get("parentSpanId", sp.get("parent_span_id")), 8, "parentSpanId", where, False)
    name = sp.get("name")
    if not isinstance(name, str):
        raise DecodeError(f"{where}.name must be a string")
    start = _int(sp.get("startTimeUnixNano", sp.get("start_time_unix_nano")), "startTimeUnixNano", where)
    end = _int(sp.get("endTimeUnixNano", sp.get("end_time_unix_nano")), "endTimeUnixNano", where, start)
    status = sp.get("status") or {}
    if not isinstance(status, dict):
        raise DecodeError(f"{where}.status must be an object")
    exc_type = None
    for e, ev in enumerate(_list(sp, "events", where=where)):
        if isinstance(ev, dict) and ev.get("name") == "exception":
            exc_type = _json_attrs(ev, f"{where}.events[{e}]").get("exception.type")
    assert trace_id is not None and span_id is not None
    return OtlpSpan(trace_id, span_id, parent, name, _int(sp.get("kind"), "kind", where), start, end,
                    _json_attrs(sp, where), _int(status.get("code"), "status.code", where),
                    str(status.get("message") or ""), str(exc_type) if exc_type is not None else None,
                    resource, scope)


def _json_attrs(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DecodeError(f"{where} must be an object")
    out: dict[str, Any] = {}
    for i, kv in enumerate(_list(obj, "attributes", where=where)):
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise DecodeError(f"{where}.attributes[{i}] must be an object with a string 'key'")
        out[kv["key"]] = _json_value(kv.get("value"), f"{where}.attributes[{i}].value")
    return out


def _json_value(v: Any, where: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise DecodeError(f"{where} must be an AnyValue object")
    if "stringValue" in v:
        return str(v["stringValue"])
    if "intValue" in v:
        return _int(v["intValue"], "intValue", where)
    if "doubleValue" in v:
        try:
            return float(v["doubleValue"])
        except (TypeError, ValueError):
            raise DecodeError(f"{where}.doubleValue must be a number") from None
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        arr = v["arrayValue"] or {}
        return [_json_value(x, f"{where}.arrayValue[{i}]") for i, x in enumerate(_list(arr, "values", where=where))]
    if "kvlistValue" in v:
        return _json_attrs({"attributes": (v["kvlistValue"] or {}).get("values")}, where + ".kvlistValue")
    if "bytesValue" in v:
        return str(v["bytesValue"])
    return None
