"""The raw record the hot path enqueues, and the per-decorator static ``OperationSpec``.

A record is a plain tuple: building a tuple literal is the cheapest thing the hot path can do
(a ``NamedTuple`` or a slotted object costs a Python-level constructor call per event). Its
shape is named twice, at no run-time cost: :data:`Record` types every slot, so mypy checks each
place that builds one (arity and types), and the slot constants (:data:`SPEC` ... :data:`EXTRA`)
name the slots read by index::

    (spec, session, trace, span, parent, agent, start_ns, duration_ns, args, kwargs, result,
     error, extra)

``span`` / ``parent`` / ``trace`` are ints from :mod:`llamonitor.ids` (formatted in the
worker) or strings given by an adapter. ``extra`` is ``None`` or a dict of values known at the
call site (``usage``, ``model``, ``response_model``, ``provider``, ``attributes``, ``input_content``,
``output_content``, ``system_instructions``, ``stream``...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from llamonitor.measurement.config import MeasurementConfig

if TYPE_CHECKING:
    from llamonitor.schema.events import AgentIdentity

#: slot indexes of a :data:`Record`
SPEC: Final = 0
SESSION: Final = 1
TRACE: Final = 2
SPAN: Final = 3
PARENT: Final = 4
AGENT: Final = 5
START_NS: Final = 6
DURATION_NS: Final = 7
ARGS: Final = 8
KWARGS: Final = 9
RESULT: Final = 10
ERROR: Final = 11
EXTRA: Final = 12

#: a generated id (an int from :mod:`llamonitor.ids`) or one an adapter gave (a string)
_Id = int | str
#: the raw record the hot path enqueues (see the module docstring)
Record = tuple[
    "OperationSpec",            # SPEC
    "str | None",               # SESSION
    _Id,                        # TRACE
    _Id,                        # SPAN
    "_Id | None",               # PARENT
    "AgentIdentity | None",     # AGENT
    int,                        # START_NS: wall clock, Unix ns
    int,                        # DURATION_NS: monotonic
    "tuple[Any, ...] | None",   # ARGS: kept only when something reads them
    "dict[str, Any] | None",    # KWARGS
    Any,                        # RESULT
    "BaseException | None",     # ERROR
    "dict[str, Any] | None",    # EXTRA: usage, model, provider, attributes, content...
]


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
