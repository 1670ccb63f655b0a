"""Isolating refused events: split a batch a sink refuses until each refused event is alone.

When a sink refuses a batch for its data (see :mod:`llamonitor.backends.errors`), the batch is
split in halves and each half written again, recursively: the halves without a bad value are
written, and an event refused on its own is handed to ``on_refused`` (the writer dead-letters
it). With ``k`` refused events in a batch of ``n`` this costs about ``2 k log2(n)`` writes. Order
is kept: the first half is written before the second.

If a part fails for another reason (the server went away in the middle), isolation stops and
:class:`IsolationInterrupted` carries the events not yet written, for the caller to spill.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llamonitor.backends.errors import refused_data
from llamonitor.schema.events import MetricEvent

Write = Callable[[Sequence[MetricEvent]], None]


@dataclass
class Isolated:
    """What isolation did: events written, and events refused on their own."""

    written: int = 0
    refused: int = 0


class IsolationInterrupted(Exception):
    """A part failed for a reason other than its data; ``remaining`` were not written."""

    def __init__(self, cause: BaseException, remaining: list[MetricEvent], done: Isolated) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.remaining = remaining
        self.done = done


def write_isolating(events: Sequence[MetricEvent], write: Write,
                    on_refused: Callable[[MetricEvent, BaseException], None],
                    first_error: BaseException | None = None) -> Isolated:
    """Write ``events`` with ``write``, isolating refused events (see the module docs).

    ``first_error`` is the data refusal the whole batch already met: the batch is split at once
    instead of being written again.
    """
    done = Isolated()
    stack: list[list[MetricEvent]] = []
    whole = list(events)
    if first_error is None:
        stack.append(whole)
    else:
        _split(whole, first_error, stack, on_refused, done)
    while stack:
        part = stack.pop()
        try:
            write(part)
        except Exception as exc:
            if not refused_data(exc):
                remaining = [event for chunk in (part, *reversed(stack)) for event in chunk]
                raise IsolationInterrupted(exc, remaining, done) from exc
            _split(part, exc, stack, on_refused, done)
            continue
        done.written += len(part)
    return done


def _split(part: list[MetricEvent], exc: BaseException, stack: list[list[MetricEvent]],
           on_refused: Callable[[MetricEvent, BaseException], None], done: Isolated) -> None:
    if len(part) == 1:
        on_refused(part[0], exc)
        done.refused += 1
        return
    middle = len(part) // 2
    stack.append(part[middle:])  # popped second
    stack.append(part[:middle])
