"""The raw record the hot path enqueues, and the per-decorator static ``OperationSpec``.

A record is a plain tuple: building a tuple literal is the cheapest thing the hot path can do
(a ``NamedTuple`` or a slotted object costs a Python-level constructor call per event). Its
shape is named twice, at no run-time cost: :data:`Record` types every slot, so mypy checks each
place that builds one (arity and types), and the slot constants (:data:`SPEC` ... :data:`EXTRA`)
name the slots read by index::

    (spec, session, trace, span, parent, agent, start_ns, duration_ns, args, kwargs, result,
     error, extra)

``spec`` is the :class:`OperationSpec`'s index in :data:`SPECS` (an int), not the spec itself:
a tuple holding only ints, strings and ``None`` is untracked by Python's cyclic GC at its first
collection, so the records queued behind a busy writer (up to ``max_queue_size``, 200,000 with
``for_local_dev()``) are not walked again by every later collection -- which cost the
application's threads more than the writer's own work. Past :data:`MAX_INDEXED_SPECS` specs
(functions decorated at run time, without end) a record holds the spec object as before; read
the slot through :func:`spec_of`.

``span`` / ``parent`` / ``trace`` are ints from :mod:`llamonitor.ids` (formatted in the
worker) or strings given by an adapter. ``extra`` is ``None`` or a dict of values known at the
call site (``usage``, ``model``, ``response_model``, ``provider``, ``attributes``, ``input_content``,
``output_content``, ``system_instructions``, ``stream``...).
"""

from __future__ import annotations

import os
import threading
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
    "OperationSpec | int",      # SPEC: its index in SPECS, or the spec (see spec_of)
    "str | None",               # SESSION
    _Id,                        # TRACE
    _Id,                        # SPAN
    "_Id | None",               # PARENT
    "AgentIdentity | None",     # AGENT
    int,                        # START_NS: Unix ns (llamonitor.clock)
    int,                        # DURATION_NS: monotonic
    "tuple[Any, ...] | None",   # ARGS: kept only when something reads them
    "dict[str, Any] | None",    # KWARGS
    Any,                        # RESULT
    "BaseException | None",     # ERROR
    "dict[str, Any] | None",    # EXTRA: usage, model, provider, attributes, content...
]


#: specs by index, as records name them (see the module docstring); only ever appended to
SPECS: list[OperationSpec] = []
#: how many specs get an index: a bound on what :data:`SPECS` keeps alive (a few MB at most)
MAX_INDEXED_SPECS = 4096
_specs_lock = threading.Lock()


def _new_lock_in_child() -> None:
    # A fork while another thread decorates a function must not leave the child's lock held.
    global _specs_lock
    _specs_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


def spec_of(ref: OperationSpec | int) -> OperationSpec:
    """The spec a record's ``SPEC`` slot names."""
    return SPECS[ref] if ref.__class__ is int else ref  # type: ignore[return-value]


class OperationSpec:
    """What a decorated function (or an adapter's operation kind) records; built once."""

    __slots__ = ("capture_content", "collectors", "custom_attributes", "index", "keeps_io", "measurement",
                 "model", "operation_name", "operation_type", "provider")

    def __init__(self, operation_name: str, operation_type: str = "llm_call", *,
                 collectors: tuple[str, ...] = (), measurement: MeasurementConfig | None = None,
                 custom_attributes: dict[str, Any] | None = None, model: str | None = None,
                 provider: str | None = None, capture_content: bool | None = None, indexed: bool = False) -> None:
        """``indexed``: take a slot in :data:`SPECS` so records can name this spec by an int (the
        decorator's specs; an adapter's or an ingested span's record carries a dict anyway, which
        the GC tracks whatever the spec slot holds)."""
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
        #: this spec's index in :data:`SPECS` (``None`` not ``indexed``, or past :data:`MAX_INDEXED_SPECS`)
        self.index: int | None = None
        with _specs_lock:
            if indexed and len(SPECS) < MAX_INDEXED_SPECS:
                self.index = len(SPECS)
                SPECS.append(self)

    @property
    def ref(self) -> OperationSpec | int:
        """What a record holds in its ``SPEC`` slot: the index, or the spec when it has none."""
        return self if self.index is None else self.index

    def __repr__(self) -> str:
        return f"OperationSpec({self.operation_name!r}, {self.operation_type!r}, collectors={self.collectors})"
