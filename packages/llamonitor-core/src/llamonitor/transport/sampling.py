"""Head sampling: which traces reach the queue (``MonitorConfig.sampling``).

The decision is a function of the trace id only, the one OpenTelemetry's ``TraceIdRatioBased``
makes: keep when the id's low 64 bits are below ``round(ratio * 2**64)``. So every span of a
trace gets the same answer, in every process and in an OpenTelemetry SDK configured with the
same ratio: a trace is kept or dropped whole. Trace ids that are not ours (an adapter's or a
user's string) are read as the OTLP exporter sends them: 32 hex digits as they are, anything
else as the first 16 bytes of its SHA-256.

With ``always_keep_errors`` a failed call is kept although its trace is sampled out, and so is
every span of that trace that ends after it in this process -- the callers still open around
the failure, so the error arrives with its path to the root. Dropped events are counted
(``health()["sampled_out"]``).

Runs on the caller's thread before the queue: an int comparison per event.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from llamonitor.transport.records import ERROR, TRACE, Record

_MASK64 = (1 << 64) - 1
#: failed traces remembered to keep their later spans (oldest forgotten first)
MAX_ERROR_TRACES = 4096
_MAX_HASHED = 16_384


def bound_for(ratio: float) -> int:
    """The threshold on a trace id's low 64 bits (``TraceIdRatioBased.get_bound_for_rate``)."""
    return round(ratio * (_MASK64 + 1))


class TraceSampler:
    """Keeps ``ratio`` of traces, by trace id; one per writer (``Recorder.sampler``)."""

    __slots__ = ("_error_traces", "_hashed", "_lock", "always_keep_errors", "bound", "ratio", "sampled_out")

    def __init__(self, ratio: float, always_keep_errors: bool = True) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"sampling ratio must be between 0 and 1; got {ratio!r}")
        self.ratio = ratio
        self.bound = bound_for(ratio)
        self.always_keep_errors = always_keep_errors
        #: events not enqueued because their trace was sampled out
        self.sampled_out = 0
        self._lock = threading.Lock()
        self._error_traces: OrderedDict[Any, None] = OrderedDict()
        self._hashed: dict[str, int] = {}

    def trace_value(self, trace: Any) -> int:
        """The low 64 bits the decision reads (see the module docs for string ids)."""
        if type(trace) is int:
            return trace & _MASK64
        text = "" if trace is None else str(trace)
        value = self._hashed.get(text)
        if value is None:
            raw = b""
            if len(text) == 32:
                try:
                    raw = bytes.fromhex(text)
                except ValueError:
                    raw = b""
            if not any(raw):  # not 32 hex digits, or all zero: the exporter hashes it
                raw = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]
            value = int.from_bytes(raw, "big") & _MASK64
            if len(self._hashed) >= _MAX_HASHED:
                self._hashed.clear()
            self._hashed[text] = value
        return value

    def keeps_trace(self, trace: Any) -> bool:
        """The ratio decision for ``trace`` (errors aside)."""
        if type(trace) is int:
            return (trace & _MASK64) < self.bound
        return self.trace_value(trace) < self.bound

    def keep(self, record: Record) -> bool:
        """Whether ``record`` goes to the queue; a dropped one is counted."""
        trace = record[TRACE]
        if type(trace) is int and (trace & _MASK64) < self.bound:
            return True
        if type(trace) is not int and self.trace_value(trace) < self.bound:
            return True
        if self.always_keep_errors:
            errors = self._error_traces
            if record[ERROR] is not None:
                with self._lock:
                    errors[trace] = None
                    errors.move_to_end(trace)
                    if len(errors) > MAX_ERROR_TRACES:
                        errors.popitem(last=False)
                return True
            if trace in errors:
                return True
        with self._lock:
            self.sampled_out += 1
        return False


def sampler_for(ratio: float, always_keep_errors: bool) -> TraceSampler | None:
    """The sampler of a configuration, or ``None`` when it keeps everything (no cost at all)."""
    return None if ratio >= 1.0 else TraceSampler(ratio, always_keep_errors)
