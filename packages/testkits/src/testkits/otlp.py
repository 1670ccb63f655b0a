"""OTLP/JSON request bodies for ingestion tests and benches."""

from __future__ import annotations

import json
from typing import Any

TRACE = "5b8efff798038103d269b633813fc60c"
T0 = 1_764_800_000_000_000_000


def otlp_attr(key: str, value: Any) -> dict[str, Any]:
    """One OTLP/JSON ``KeyValue`` (64-bit ints as strings, as the encoding says)."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def otlp_json_body(*spans: tuple[str, str, dict[str, Any], str | None], scope: str = "test.scope",
                   service: str = "svc", trace_id: str = TRACE) -> bytes:
    """An ``ExportTraceServiceRequest`` as OTLP/JSON: ``(span_id, name, attributes, parent_id)`` per span,
    the i-th starting at ``T0 + i`` and lasting 250 ms."""
    out = []
    for i, (span_id, name, attrs, parent) in enumerate(spans):
        span: dict[str, Any] = {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 3,
                                "startTimeUnixNano": str(T0 + i), "endTimeUnixNano": str(T0 + i + 250_000_000),
                                "attributes": [otlp_attr(k, v) for k, v in attrs.items()]}
        if parent:
            span["parentSpanId"] = parent
        out.append(span)
    doc = {"resourceSpans": [{"resource": {"attributes": [otlp_attr("service.name", service)]},
                              "scopeSpans": [{"scope": {"name": scope}, "spans": out}]}]}
    return json.dumps(doc).encode()
