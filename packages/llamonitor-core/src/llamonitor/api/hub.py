"""The live feed: events from the writer thread (or the storage tail) to WebSocket and GraphQL subscribers.

The writer calls :meth:`LiveHub.on_batch` from its own thread after each batch. The hub only
hands the batch to the API's event loop (``loop.call_soon_threadsafe``) and returns; on the loop,
each matching subscriber gets the events appended to its own list of waiting events (one C-level
``extend`` per subscriber and batch) and is woken. Its sender then takes everything waiting: up
to :data:`COALESCE_ABOVE` events (or ``queue_size``, if smaller) go out one message each
(``{"type": "event", ...}``); more -- a burst, or a client that fell behind -- go out as one
coalesced ``{"type": "batch", "data": [...]}`` message, so fifty clients at 1,000 events/s cost a
few sends per poll, not fifty thousand. Each event is serialised once for all clients (a bounded
cache by event id). Only a client with more than ``backlog_limit`` events waiting (a dead client)
is dropped (close code 1013), so a slow or dead client never slows the writer nor the other
clients.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llamonitor.api.tail import StorageTail
from llamonitor.schema.batch import EventBatch
from llamonitor.schema.columns import COLUMN_NAMES
from llamonitor.schema.events import MetricEvent
from llamonitor.schema.serialize import event_to_dict

logger = logging.getLogger("llamonitor.api")

#: close code sent to a client that could not keep up (its backlog overflowed)
CLOSE_SLOW_CONSUMER = 1013
#: close code sent when ``max_connections`` subscribers are already connected
CLOSE_TOO_MANY = 1013
#: a sender with more events than this waiting sends them as one ``batch`` message
COALESCE_ABOVE = 64
#: serialised events kept for the other subscribers (by event id)
TEXT_CACHE = 20_000


class TooManyConnections(RuntimeError):
    """``max_connections`` subscribers are already connected."""


@dataclass(eq=False)
class Subscriber:
    """One live client: its filters and the events waiting for it."""

    session_id: str | None = None
    operation_name: str | None = None
    dropped: bool = False
    delivered: int = field(default=0)
    #: events waiting to be sent, in order
    pending: list[MetricEvent] = field(default_factory=list)
    #: set when events arrive or the stream ends
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: coalesced messages sent to this client
    batches: int = field(default=0)
    #: any further condition (the seed's ``operation_type`` / ``error_only`` filters)
    where: Callable[[MetricEvent], bool] | None = None

    @property
    def backlog(self) -> list[MetricEvent]:
        """The events waiting (kept name: the coalesced part of earlier versions)."""
        return self.pending

    @property
    def filtered(self) -> bool:
        """Whether this subscriber filters events."""
        return self.session_id is not None or self.operation_name is not None or self.where is not None

    def matches(self, event: MetricEvent) -> bool:
        """Whether ``event`` passes this subscriber's filters."""
        if self.session_id is not None and event.session_id != self.session_id:
            return False
        if self.operation_name is not None and event.operation_name != self.operation_name:
            return False
        return self.where is None or self.where(event)


_ID_COLUMN = COLUMN_NAMES.index("event_id")


def _event_ids(events: Sequence[MetricEvent]) -> list[str]:
    """The ids of a writer batch: from its flat columns (the worker makes them for the sinks
    anyway), not by building every event."""
    if isinstance(events, EventBatch):
        column = events.columns[_ID_COLUMN]
        if column is not None:
            return list(column)
    return [e.event_id for e in events]


def event_data(event: MetricEvent) -> str:
    """``event`` as the JSON of a live message's ``data``: ASCII, other characters escaped (``\\uXXXX``).

    Why ASCII: every client's send encodes the message text to UTF-8 again (the ASGI server does,
    per client). One emoji in a batch makes Python hold the whole joined text at four bytes a
    character, and encoding that costs each client about seven times a plain ASCII copy: at
    fifty clients that was a quarter of the server's CPU. The JSON means the same either way.
    """
    return json.dumps(event_to_dict(event), default=str)


def event_message(event: MetricEvent) -> str:
    """The JSON text sent for ``event``: ``{"type": "event", "data": {...event fields...}}``."""
    return '{"type": "event", "data": ' + event_data(event) + "}"


#: every hub of this process (weakly held), for :func:`live_hubs`
_HUBS: weakref.WeakSet[LiveHub] = weakref.WeakSet()


def live_hubs() -> list[LiveHub]:
    """The hubs of this process whose event loop is bound and open (one per API app, plus the
    seed broadcaster's, see ``llmops_monitoring.streaming``)."""
    return [hub for hub in list(_HUBS) if hub.loop is not None and not hub.loop.is_closed()]


class LiveHub:
    """Fan-out of live events to subscribers; attach it to a writer with :meth:`attach`."""

    def __init__(self, *, max_connections: int = 100, queue_size: int = 1000, enabled: bool = True,
                 backlog_limit: int | None = None) -> None:
        self.max_connections = max_connections
        #: events waiting beyond which a client counts as lagging (``/api/health``)
        self.queue_size = queue_size
        #: more events than this waiting go out as one ``batch`` message
        self.coalesce_above = min(COALESCE_ABOVE, queue_size)
        #: events a lagging client may have waiting before it is dropped
        self.backlog_limit = 100 * queue_size if backlog_limit is None else backlog_limit
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._batches: OrderedDict[tuple[int, ...], tuple[list[MetricEvent], str]] = OrderedDict()
        self.enabled = enabled
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: set[Subscriber] = set()
        self.dropped_clients = 0
        self.refused_clients = 0
        self._writer: Any = None
        self._lock = threading.Lock()
        #: polls storage for events of writers in other processes (see :mod:`llamonitor.api.tail`)
        self.tail: StorageTail | None = None
        _HUBS.add(self)

    # -- wiring ------------------------------------------------------------------------------
    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` (the server's event loop)."""
        self.loop = loop

    def attach(self) -> bool:
        """Listen to the writer running in this process (``llamonitor.runtime.get_writer()``).

        Called at start-up and on every new subscriber, so a writer started after the server is
        picked up. Returns whether a writer is attached.
        """
        from llamonitor.runtime import get_writer

        writer = get_writer()
        with self._lock:
            if writer is self._writer:
                return writer is not None
            if self._writer is not None:
                self._writer.remove_listener(self.on_batch)
            self._writer = writer
            if writer is not None:
                writer.add_listener(self.on_batch)
        # a running tail keeps running: other processes may write too; what this writer stores
        # reaches the hub through on_batch, which tells the tail not to read it again
        return writer is not None

    def start_tail(self, tail: StorageTail) -> bool:
        """Tail storage with ``tail`` unless a writer runs in this process (call on the loop).

        Returns whether the tail runs.
        """
        self.tail = tail
        if not self.enabled or self.attach():
            return False
        tail.wanted = self.has_subscribers  # reads nothing while no client listens
        tail.start()
        return True

    def has_subscribers(self) -> bool:
        """Whether any live client listens."""
        return bool(self.subscribers)

    async def ready(self) -> None:
        """Wait until the storage tail (if it runs) publishes every event stored from now on: call
        after :meth:`subscribe`, before accepting the client."""
        tail = self.tail
        if tail is not None and tail.running:
            await tail.ready()

    async def stop_tail(self) -> None:
        """Stop the storage tail, if any."""
        if self.tail is not None:
            await self.tail.stop()

    @property
    def mode(self) -> str:
        """Where live events come from: ``in-process``, the tail's mode, both (``in-process + <tail
        mode>``: ``serve`` ingesting OTLP), or ``off``."""
        tailing = self.tail is not None and self.tail.running
        if self._writer is not None:
            return f"in-process + {self.tail.mode}" if tailing and self.tail is not None else "in-process"
        if tailing and self.tail is not None:
            return self.tail.mode
        return "off"

    def detach(self) -> None:
        """Stop listening to the writer and end every stream."""
        with self._lock:
            if self._writer is not None:
                self._writer.remove_listener(self.on_batch)
            self._writer = None
        for sub in list(self.subscribers):
            self.end(sub)

    # -- writer thread -----------------------------------------------------------------------
    def on_batch(self, events: Sequence[MetricEvent]) -> None:
        """Writer listener: O(1) for the writer (hands the batch to the loop and returns)."""
        loop = self.loop
        if not self.subscribers or loop is None or loop.is_closed():
            return
        tail = self.tail
        if tail is not None and tail.running:  # called before the batch is stored: the tail skips it
            tail.note_own(_event_ids(events))
        try:
            loop.call_soon_threadsafe(self.dispatch, list(events))
        except RuntimeError:  # the loop closed meanwhile
            pass

    def publish(self, events: Sequence[MetricEvent]) -> None:
        """Deliver ``events`` that did not come from the writer (any thread): queued at once when
        called on the hub's loop, else handed to it like a writer batch."""
        loop = self.loop
        if not self.subscribers or loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.dispatch(list(events))
            return
        try:
            loop.call_soon_threadsafe(self.dispatch, list(events))
        except RuntimeError:  # the loop closed meanwhile
            pass

    # -- event loop --------------------------------------------------------------------------
    def dispatch(self, events: Sequence[MetricEvent], texts: Sequence[str] | None = None) -> None:
        """Append the events to every matching subscriber's waiting list and wake it (on the loop);
        drop a subscriber whose waiting list passes ``backlog_limit``. ``texts``: the events'
        :func:`event_data`, when the caller serialised them already (off the loop)."""
        if not events:
            return
        events = list(events)
        if texts is not None and self.subscribers:
            for event, text in zip(events, texts, strict=True):
                self._texts[event.event_id] = text
            while len(self._texts) > TEXT_CACHE:
                self._texts.popitem(last=False)
        for sub in list(self.subscribers):
            mine = [e for e in events if sub.matches(e)] if sub.filtered else events
            if not mine:
                continue
            if len(sub.pending) + len(mine) > self.backlog_limit:
                self.dropped_clients += 1
                logger.warning("llamonitor api: dropping a live client whose backlog overflowed")
                self.end(sub)
                continue
            sub.pending.extend(mine)
            sub.wake.set()

    def _text(self, event: MetricEvent) -> str:
        """``event``'s data as JSON, serialised once for every subscriber."""
        key = event.event_id
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = event_data(event)
            if len(self._texts) > TEXT_CACHE:
                self._texts.popitem(last=False)
        return text

    def _batch_text(self, batch: list[MetricEvent]) -> str:
        """The ``batch`` message of ``batch``: built once for every client that has the same events
        waiting (clients that keep up all get each dispatched batch whole)."""
        # the ids of the events: the kept batch keeps them alive, so equal ids are the same events
        key = tuple(map(id, batch))
        found = self._batches.get(key)
        if found is not None:
            return found[1]
        text = '{"type": "batch", "data": [' + ", ".join(self._text(e) for e in batch) + "]}"
        self._batches[key] = (batch, text)
        while len(self._batches) > 8:
            self._batches.popitem(last=False)
        return text

    def end(self, sub: Subscriber) -> None:
        """End ``sub``'s stream (dropped, or its client went away)."""
        sub.dropped = True
        sub.pending = []
        self.subscribers.discard(sub)
        sub.wake.set()

    def subscribe(self, *, session_id: str | None = None, operation_name: str | None = None,
                  where: Callable[[MetricEvent], bool] | None = None) -> Subscriber:
        """A new subscriber (``where``: an extra event condition); :class:`TooManyConnections`
        beyond ``max_connections``."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        if len(self.subscribers) >= self.max_connections:
            self.refused_clients += 1
            raise TooManyConnections(f"max_connections ({self.max_connections}) reached")
        self.attach()
        sub = Subscriber(session_id, operation_name, where=where)
        self.subscribers.add(sub)
        if self.tail is not None:
            self.tail.poke()  # an idle tail primes now (see ready)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget ``sub`` (client gone)."""
        self.subscribers.discard(sub)

    async def _waiting(self, sub: Subscriber) -> AsyncIterator[list[MetricEvent]]:
        """Everything waiting for ``sub`` each time it wakes, until its stream ends."""
        try:
            while True:
                if not sub.pending:
                    if sub.dropped:
                        return
                    sub.wake.clear()
                    await sub.wake.wait()
                    continue
                batch, sub.pending = sub.pending, []
                yield batch
        finally:
            self.unsubscribe(sub)

    async def stream(self, sub: Subscriber) -> AsyncIterator[tuple[MetricEvent, str]]:
        """Events for ``sub``, one by one, until it is dropped or unsubscribed."""
        async for batch in self._waiting(sub):
            for event in batch:
                sub.delivered += 1
                yield event, '{"type": "event", "data": ' + self._text(event) + "}"

    async def messages(self, sub: Subscriber) -> AsyncIterator[str]:
        """WebSocket messages for ``sub``: one ``event`` per event, or one ``batch`` when more than
        :attr:`coalesce_above` events wait."""
        async for batch in self._waiting(sub):
            sub.delivered += len(batch)
            if len(batch) > self.coalesce_above:
                sub.batches += 1
                yield self._batch_text(batch)
                continue
            for event in batch:
                yield '{"type": "event", "data": ' + self._text(event) + "}"

    def stats(self) -> dict[str, Any]:
        """Counters for ``/api/health``."""
        tail = self.tail
        return {"enabled": self.enabled, "writer_attached": self._writer is not None, "mode": self.mode,
                "tail_published": 0 if tail is None else tail.published,
                "tail_errors": 0 if tail is None else tail.errors,
                "clients": len(self.subscribers), "max_connections": self.max_connections,
                "lagging_clients": sum(1 for sub in self.subscribers if len(sub.pending) > self.queue_size),
                "dropped_clients": self.dropped_clients, "refused_clients": self.refused_clients}
