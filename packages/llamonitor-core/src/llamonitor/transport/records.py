"""The raw record the hot path enqueues, and the per-decorator static ``OperationSpec``.

A record is a plain tuple (cheapest to build); the ``R_*`` constants name its slots:

``(spec, session, trace, span, parent, agent, start_ns, duration_ns, args, kwargs, result,
error, extra)``

``span`` / ``parent`` / ``trace`` are ints from :mod:`llamonitor.ids` (formatted in the
worker) or strings given by an adapter. ``extra`` is ``None`` or a dict of values known at the
call site (``usage``, ``model``, ``provider``, ``attributes``, ``input_content``,
``output_content``, ``stream``...).
"""

from __future__ import annotations

from typing import Any

from llamonitor.measurement.config import MeasurementConfig

R_SPEC, R_SESSION, R_TRACE, R_SPAN, R_PARENT, R_AGENT = 0, 1, 2, 3, 4, 5
R_START_NS, R_DURATION_NS, R_ARGS, R_KWARGS, R_RESULT, R_ERROR, R_EXTRA = 6, 7, 8, 9, 10, 11, 12


class OperationSpec:
    """What a decorated function (or an adapter's operation kind) records; built once."""

    __slots__ = ("capture_content", "collectors", "custom_attributes", "keeps_io", "measurement",
                 "model", "operation_name", "operation_type", "provider")

    def __init__(self, operation_name: str, operation_type: str = "llm_call", *,
                 collectors: tuple[str, ...] = (), measurement: MeasurementConfig | None = None,
                 custom_attributes: dict[str, Any] | None = None, model: str | None = None,
                 provider: str | None = None, capture_content: bool | None = None) -> None:
        self.operation_name = operation_name
        self.operation_type = operation_type
        self.collectors = collectors
        self.measurement = measurement
        self.custom_attributes = dict(custom_attributes or {})
        attr_model = self.custom_attributes.get("model")
        self.model = model or (str(attr_model) if attr_model is not None else None)
        attr_provider = self.custom_attributes.get("provider")
        self.provider = provider or (str(attr_provider) if attr_provider is not None else None)
        self.capture_content = capture_content
        # Keep references to args/result only when something will read them: True / False,
        # or None to follow the monitor config's ``capture_content`` (read per call).
        self.keeps_io: bool | None = True if (collectors or capture_content) else (
            False if capture_content is False else None)

    def __repr__(self) -> str:
        return f"OperationSpec({self.operation_name!r}, {self.operation_type!r}, collectors={self.collectors})"
