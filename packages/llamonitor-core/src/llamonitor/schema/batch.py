"""``EventBatch``: a batch the writer built, as events and as flat storage rows or columns.

Storage backends want the flat layout of :mod:`llamonitor.schema.columns` (one value per
column and event: rows for the SQL drivers, columns for Arrow); live listeners and exporters
want :class:`~llamonitor.schema.events.MetricEvent` objects. The writer builds whichever is
cheaper and the rest only when someone asks for it:

- a batch of *plain* records (no collector, no content capture: most decorated calls) is built
  straight into columns, without a ``MetricEvent`` -- an event is made on first access, from
  its raw record, by the same code that builds every other event;
- a batch with enriched events holds those as ``MetricEvent`` objects (and the plain ones as
  rows); the missing rows are made when a backend first asks for :attr:`EventBatch.rows`.

An ``EventBatch`` is a read-only ``Sequence[MetricEvent]``, so every sink and listener that
takes a list of events takes it unchanged; backends that know it read :attr:`~EventBatch.rows`
or :attr:`~EventBatch.columns` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from typing import Any, cast, overload

from llamonitor.schema.events import MetricEvent

Row = tuple[Any, ...]
#: one column's values in event order, or ``None`` when it is null for every event. The writer's
#: fast path gives some columns as Arrow arrays (``pyarrow.Array``, typed ``Any`` here: importing
#: llamonitor does not import pyarrow); :func:`as_list` makes a list of either.
Column = list[Any] | Any | None


def as_list(column: Any) -> list[Any]:
    """A column's values as a list (an Arrow array is converted; a list is returned as is)."""
    return column if isinstance(column, list) else column.to_pylist()


class EventBatch(Sequence[MetricEvent]):
    """Events of one batch; each held as an event, as flat values, or both (the rest made on demand)."""

    __slots__ = ("_columns", "_compact", "_events", "_missing_rows", "_rows", "_sources", "_to_event", "_to_row")

    def __init__(self, events: list[MetricEvent | None], sources: list[Any], to_event: Callable[[Any], MetricEvent],
                 to_row: Callable[[MetricEvent], Row], *, rows: list[Row | None] | None = None,
                 columns: list[Column] | None = None) -> None:
        """Give ``rows`` (``None`` where ``events`` has the event) or ``columns`` (every event's values).

        ``sources[i]`` rebuilds ``events[i]`` with ``to_event`` when that is ``None``; ``to_row``
        makes a missing row from its event.
        """
        if not len(events) == len(sources) or (rows is None) == (columns is None):
            raise ValueError("EventBatch needs events and sources of one length, and rows or columns")
        if rows is not None and len(rows) != len(events):
            raise ValueError("EventBatch: rows and events differ in length")
        self._events = events
        self._sources = sources
        self._to_event = to_event
        self._to_row = to_row
        self._rows = rows
        self._columns = columns
        self._compact: tuple[tuple[int, ...], list[Row]] | None = None
        self._missing_rows = 0 if rows is None else rows.count(None)

    def __len__(self) -> int:
        return len(self._events)

    def _event(self, i: int) -> MetricEvent:
        event = self._events[i]
        if event is None:
            # The source is kept: a listener may read the batch from another thread, which at
            # worst builds the same (equal) event twice.
            event = self._events[i] = self._to_event(self._sources[i])
        return event

    @overload
    def __getitem__(self, index: int) -> MetricEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[MetricEvent]: ...

    def __getitem__(self, index: int | slice) -> MetricEvent | list[MetricEvent]:
        if isinstance(index, slice):
            return [self._event(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("EventBatch index out of range")
        return self._event(index)

    def __iter__(self) -> Iterator[MetricEvent]:
        for i in range(len(self._events)):
            yield self._event(i)

    @property
    def rows(self) -> list[Row]:
        """Every event as a flat row (:data:`llamonitor.backends.sql_common.COLUMN_NAMES` order)."""
        if self._rows is None:
            assert self._columns is not None
            self._rows = cast("list[Row | None]", columns_to_rows(self._columns, len(self)))
        rows = self._rows
        if self._missing_rows:
            events, to_row = self._events, self._to_row
            for i, row in enumerate(rows):
                if row is None:
                    event = events[i]
                    assert event is not None
                    rows[i] = to_row(event)
            self._missing_rows = 0
        return rows  # type: ignore[return-value]  # no None left

    @property
    def columns(self) -> list[Column]:
        """The flat values column by column (``None``: null for every event)."""
        if self._columns is None:
            rows = self.rows
            self._columns = [list(c) for c in zip(*rows, strict=True)] if rows else []
        return self._columns

    def compact_rows(self) -> tuple[tuple[int, ...], list[Row]]:
        """``(positions, rows)``: rows of only the columns that hold a value for some event.

        ``positions`` are the kept columns' indexes in the full layout. Most batches leave most
        columns null (no image metrics, no content, often no cost); a driver that is given the
        kept columns only encodes and sends a third of the values, and the server stores the
        others as NULL (their default) all the same.
        """
        if self._compact is None:
            n = len(self)
            columns = [None if c is None else as_list(c) for c in self.columns]
            kept = tuple(i for i, c in enumerate(columns) if c is not None and c.count(None) != n)
            self._compact = kept, list(zip(*(columns[i] for i in kept), strict=True))
        return self._compact

    def __repr__(self) -> str:
        return f"<EventBatch of {len(self)} events>"


def columns_to_rows(columns: Sequence[Column], n: int) -> list[Row]:
    """Transpose ``n`` events' columns (``None``: all null) into rows."""
    return list(zip(*(repeat(None, n) if c is None else as_list(c) for c in columns), strict=True))


def batch_rows(events: Sequence[MetricEvent], to_row: Callable[[MetricEvent], Row]) -> list[Row]:
    """The flat rows of ``events``: an :class:`EventBatch`'s own, else ``to_row`` of each event."""
    if isinstance(events, EventBatch):
        return events.rows
    return [to_row(e) for e in events]
