"""Cheap, unique ids for the hot path.

``uuid4()`` costs ~2 µs; here an id is ``next()`` on a counter (atomic under the GIL) and the
formatting to hex happens in the worker. Ids are unique per process because each process
draws a fresh random prefix (also after ``fork``).
"""

from __future__ import annotations

import itertools
import os
import secrets
from typing import Any

_span_counter = itertools.count(1)
_trace_counter = itertools.count(1)
_prefix64 = 0
_prefix96 = 0
_MASK128 = (1 << 128) - 1
_TAIL_LIMIT = 1 << 32
_uuid_head = ""
_uuid_tail = 0
# The random parts as hex, for batch formatting: a counter below 2**32 only fills the low 8 hex
# digits of each id (the prefixes' low 32 bits are zero), so an id is a head plus those digits.
_span_head = ""
_trace_head = ""
_event_head = ""


def _reseed() -> None:
    global _prefix64, _prefix96
    # 32 random bits above a 32-bit counter for span ids (OpenTelemetry's 8 bytes);
    # 96 random bits above the counter for 16-byte trace and event ids.
    global _uuid_head, _uuid_tail, _span_head, _trace_head, _event_head
    _prefix64 = secrets.randbits(32) << 32
    _prefix96 = secrets.randbits(96) << 32
    h = _prefix96.to_bytes(16, "big").hex()
    _uuid_head = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-"
    # Low 48 bits: 16 random bits above the 32-bit counter field (counter bits are zero).
    _uuid_tail = int(h[20:], 16)
    _span_head = _prefix64.to_bytes(8, "big").hex()[:8]
    _trace_head = h[:24]
    _event_head = _uuid_head + h[20:24]


_reseed()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


#: bound methods for the hot path (counters are never replaced, only the prefixes are)
next_span = _span_counter.__next__
next_trace = _trace_counter.__next__


def span_hex(number: int) -> str:
    """16 hex digits (OpenTelemetry span id width)."""
    # to_bytes().hex() is about twice as fast as format(..., "016x").
    return (_prefix64 | (number & 0xFFFFFFFF)).to_bytes(8, "big").hex()


def trace_hex(number: int) -> str:
    """32 hex digits (OpenTelemetry trace id width)."""
    return ((_prefix96 ^ number) & _MASK128).to_bytes(16, "big").hex()


def event_uuid(number: int) -> str:
    """A UUID-shaped (8-4-4-4-12) string unique per process and span number.

    The first 80 bits are this process's random prefix (formatted once); the last 48 bits
    mix the prefix with the span number, so only 12 hex digits are formatted per event.
    """
    if 0 <= number < _TAIL_LIMIT:
        return _uuid_head + (_uuid_tail ^ number).to_bytes(6, "big").hex()
    h = ((_prefix96 ^ (number << 1)) & _MASK128).to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _counter_values(values: list[Any]) -> bool:
    """Whether every value is an int in the plain counter range (``min`` / ``max`` run in C)."""
    try:
        return bool(values) and min(values) > 0 and max(values) < _TAIL_LIMIT and all(
            type(v) is int for v in (values[0], values[-1]))
    except TypeError:  # strings among ints (adapter-provided ids)
        return False


# Batch formatting for the writer: one comprehension per batch, the same strings as the
# per-id functions above; a non-int value (an id given by an adapter) passes through as str.
def span_and_event_ids(values: list[Any]) -> tuple[list[str], list[str]]:
    """(:func:`span_hex`, :func:`event_uuid`) of each number (strings are kept as given, in both)."""
    if _counter_values(values):
        digits = [n.to_bytes(4, "big").hex() for n in values]  # shared by both ids of a span
        span, event = _span_head, _event_head
        return [span + d for d in digits], [event + d for d in digits]
    return ([span_hex(v) if isinstance(v, int) else str(v) for v in values],
            [event_uuid(v) if isinstance(v, int) else str(v) for v in values])


def trace_hexes(values: list[Any]) -> list[str]:
    """:func:`trace_hex` of each number (strings are kept as given, ``None`` as "")."""
    if _counter_values(values):
        head = _trace_head
        return [head + n.to_bytes(4, "big").hex() for n in values]
    return [trace_hex(v) if isinstance(v, int) else (v or "") for v in values]
