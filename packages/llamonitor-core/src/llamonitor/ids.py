"""Random, cheap ids for the hot path.

Trace ids are 128 random bits and span ids 64 random bits (the W3C Trace Context widths), so
ratio samplers that read the trace id -- OpenTelemetry's ``TraceIdRatioBased`` and llamonitor's
head sampling (:mod:`llamonitor.transport.sampling`) -- keep the same share of every process's
traces. They come from this module's own Mersenne Twister (the generator OpenTelemetry's
Python SDK uses too): ``getrandbits`` costs ~45 ns where ``uuid4()`` costs ~2 µs and
``os.urandom`` ~0.5 µs (a system call). The generator is seeded from ``os.urandom``, reseeded in
a forked child (a child must not repeat its parent's ids) and untouched by the application's
``random.seed()``. Ids stay integers on the hot path; the worker formats them as hex.

An event id is UUID-shaped: the first 64 bits of the trace id, then the span id. Two events
share it only if they are in traces with the same first 64 bits *and* have the same span id
(2**-64 for two spans of one trace), never because two processes or two busy hours met.
"""

from __future__ import annotations

import os
import random
from typing import Any

_rng = random.Random(os.urandom(32))
#: ``random_bits(k)``: k random bits as an int (a bound C method: nothing cheaper to call)
random_bits = _rng.getrandbits
_MASK64 = (1 << 64) - 1
_LIMIT128 = 1 << 128
_prefix = 0
_prefix_head = ""


def _reseed() -> None:
    global _prefix, _prefix_head
    _rng.seed(os.urandom(32))
    # Event ids of spans whose trace id is not ours (an adapter's or a user's string).
    _prefix = _rng.getrandbits(64)
    _prefix_head = _event_head(_prefix.to_bytes(8, "big").hex())


def _event_head(hex16: str) -> str:
    return f"{hex16[:8]}-{hex16[8:12]}-{hex16[12:16]}-"


_reseed()
if hasattr(os, "register_at_fork"):
    # Seeded in place: ``random_bits`` (bound to this generator) stays valid in the child.
    os.register_at_fork(after_in_child=_reseed)


def next_span() -> int:
    """A new span id (64 random bits); format it with :func:`span_hex` off the hot path.

    The hot path calls ``random_bits(64)`` directly. Zero (an invalid OpenTelemetry id) comes up
    once in 2**64 draws: not worth a test on every call.
    """
    return random_bits(64)


def next_trace() -> int:
    """A new trace id (128 random bits)."""
    return random_bits(128)


def span_hex(number: int) -> str:
    """16 hex digits (OpenTelemetry span id width)."""
    # to_bytes().hex() is about twice as fast as format(..., "016x").
    return (number & _MASK64).to_bytes(8, "big").hex()


def trace_hex(number: int) -> str:
    """32 hex digits (OpenTelemetry trace id width)."""
    return (number % _LIMIT128).to_bytes(16, "big").hex()


def _head_of(trace: Any) -> str:
    """The first three UUID groups of the event ids of spans in ``trace``."""
    if type(trace) is int:
        return _event_head(trace_hex(trace)[:16])
    if trace is None:
        return _prefix_head
    # A string trace id: this process's prefix mixed with the string's hash, so spans of
    # different string traces do not share heads.
    return _event_head(((_prefix ^ hash(trace)) & _MASK64).to_bytes(8, "big").hex())


def event_uuid(span: int, trace: Any = None) -> str:
    """The UUID-shaped event id of span ``span`` in trace ``trace`` (an int, a string or ``None``)."""
    s = span_hex(span)
    return f"{_head_of(trace)}{s[:4]}-{s[4:]}"


def _all_ints(values: list[Any]) -> bool:
    try:
        return bool(values) and min(values) >= 0 and all(type(v) is int for v in (values[0], values[-1]))
    except TypeError:  # strings among ints (adapter-provided ids)
        return False


# Batch formatting for the writer: one comprehension per column, the same strings as the
# per-id functions above; a non-int value (an id given by an adapter) passes through as str.
def batch_ids(spans: list[Any], traces: list[Any]) -> tuple[list[str], list[str], list[str]]:
    """``(span ids, event ids, trace ids)`` of a batch, as :func:`span_hex`, :func:`event_uuid` and
    :func:`trace_hex` make them; strings are kept as given (a string span is its own event id),
    a ``None`` trace becomes ``""``."""
    if _all_ints(spans) and _all_ints(traces) and max(spans) <= _MASK64 and max(traces) < _LIMIT128:
        trace_ids = [t.to_bytes(16, "big").hex() for t in traces]
        span_ids = [s.to_bytes(8, "big").hex() for s in spans]
        event_ids = [f"{t[:8]}-{t[8:12]}-{t[12:16]}-{s[:4]}-{s[4:]}"
                     for t, s in zip(trace_ids, span_ids, strict=True)]
        return span_ids, event_ids, trace_ids
    trace_ids = [trace_hex(t) if type(t) is int else (t or "") for t in traces]
    span_ids = [span_hex(s) if isinstance(s, int) else str(s) for s in spans]
    event_ids = [event_uuid(s, t) if isinstance(s, int) else str(s) for s, t in zip(spans, traces, strict=True)]
    return span_ids, event_ids, trace_ids


def trace_hexes(values: list[Any]) -> list[str]:
    """:func:`trace_hex` of each value (strings are kept as given, ``None`` as "")."""
    return [trace_hex(v) if type(v) is int else (v or "") for v in values]
