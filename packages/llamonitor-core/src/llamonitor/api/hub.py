"""The live feed: events from the writer thread to WebSocket and GraphQL subscribers.

The writer calls :meth:`LiveHub.on_batch` from its own thread after each batch. The hub only
hands the batch to the API's event loop (``loop.call_soon_threadsafe``) and returns; on the loop,
each matching subscriber gets the event in its own bounded queue. A subscriber whose queue is
full is not dropped: further events wait in its backlog and reach it as one coalesced
``{"type": "batch", "data": [...]}`` message once it has read its queue. Only a client whose
backlog passes ``backlog_limit`` too (a dead client) is dropped (close code 1013), so a slow or
dead client never slows the writer nor the other clients.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llamonitor.api.tail import StorageTail
from llamonitor.schema.events import MetricEvent
from llamonitor.schema.serialize import event_to_dict

logger = logging.getLogger("llamonitor.api")

#: close code sent to a client that could not keep up (its queue overflowed)
CLOSE_SLOW_CONSUMER = 1013
#: close code sent when ``max_connections`` subscribers are already connected
CLOSE_TOO_MANY = 1013


class TooManyConnections(RuntimeError):
    """``max_connections`` subscribers are already connected."""


@dataclass(eq=False)
class Subscriber:
    """One live client: its filters and its bounded queue (``None`` in the queue ends the stream)."""

    queue: asyncio.Queue[tuple[MetricEvent, str] | None]
    session_id: str | None = None
    operation_name: str | None = None
    dropped: bool = False
    delivered: int = field(default=0)
    #: events that overflowed the queue, sent as one batch once the queue is read
    backlog: list[MetricEvent] = field(default_factory=list)
    #: batches sent to this client because it fell behind
    batches: int = field(default=0)
    #: any further condition (the seed's ``operation_type`` / ``error_only`` filters)
    where: Callable[[MetricEvent], bool] | None = None

    def matches(self, event: MetricEvent) -> bool:
        """Whether ``event`` passes this subscriber's filters."""
        if self.session_id is not None and event.session_id != self.session_id:
            return False
        if self.operation_name is not None and event.operation_name != self.operation_name:
            return False
        return self.where is None or self.where(event)


def event_message(event: MetricEvent) -> str:
    """The JSON text sent for ``event``: ``{"type": "event", "data": {...event fields...}}``."""
    return json.dumps({"type": "event", "data": event_to_dict(event)}, default=str, ensure_ascii=False)


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
        self.queue_size = queue_size
        #: events a lagging client may have waiting beyond its queue before it is dropped
        self.backlog_limit = 100 * queue_size if backlog_limit is None else backlog_limit
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
        if writer is not None and self.tail is not None and self.tail.running:
            self.tail.halt()  # the in-process listener sees every event: tailing would repeat them
        return writer is not None

    def start_tail(self, tail: StorageTail) -> bool:
        """Tail storage with ``tail`` unless a writer runs in this process (call on the loop).

        Returns whether the tail runs.
        """
        self.tail = tail
        if tail.listening is None:
            tail.listening = lambda: bool(self.subscribers)
        if not self.enabled or self.attach():
            return False
        tail.start()
        return True

    async def stop_tail(self) -> None:
        """Stop the storage tail, if any."""
        if self.tail is not None:
            await self.tail.stop()

    @property
    def mode(self) -> str:
        """Where live events come from: ``in-process``, the tail's mode, or ``off``."""
        if self._writer is not None:
            return "in-process"
        if self.tail is not None and self.tail.running:
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
    def dispatch(self, events: Sequence[MetricEvent]) -> None:
        """Queue each event for every matching subscriber (on the loop); drop overflowing ones."""
        cache: dict[int, str] = {}
        for sub in list(self.subscribers):
            for event in events:
                if not sub.matches(event):
                    continue
                if sub.backlog or sub.queue.full():  # behind: keep order, coalesce
                    if len(sub.backlog) >= self.backlog_limit:
                        self.dropped_clients += 1
                        logger.warning("llamonitor api: dropping a live client whose backlog overflowed")
                        self.end(sub)
                        break
                    sub.backlog.append(event)
                    continue
                text = cache.get(id(event))
                if text is None:
                    text = cache[id(event)] = event_message(event)
                sub.queue.put_nowait((event, text))

    def end(self, sub: Subscriber) -> None:
        """End ``sub``'s stream (dropped, or its client went away)."""
        sub.dropped = True
        sub.backlog = []
        self.subscribers.discard(sub)
        while True:  # make room for the end marker
            try:
                sub.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
        sub.queue.put_nowait(None)

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
        sub = Subscriber(asyncio.Queue(maxsize=self.queue_size + 1), session_id, operation_name, where=where)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget ``sub`` (client gone)."""
        self.subscribers.discard(sub)

    async def _items(self, sub: Subscriber) -> AsyncIterator[tuple[MetricEvent, str] | list[MetricEvent]]:
        """Queued events one by one, then (when behind) the backlog as one list."""
        try:
            while True:
                if sub.backlog and sub.queue.empty():
                    batch, sub.backlog = sub.backlog, []
                    sub.delivered += len(batch)
                    sub.batches += 1
                    yield batch
                    continue
                item = await sub.queue.get()
                if item is None:
                    return
                sub.delivered += 1
                yield item
        finally:
            self.unsubscribe(sub)

    async def stream(self, sub: Subscriber) -> AsyncIterator[tuple[MetricEvent, str]]:
        """Events for ``sub``, one by one, until it is dropped or unsubscribed."""
        async for item in self._items(sub):
            if isinstance(item, list):
                for event in item:
                    yield event, event_message(event)
            else:
                yield item

    async def messages(self, sub: Subscriber) -> AsyncIterator[str]:
        """WebSocket messages for ``sub``: one ``event`` per event, or one ``batch`` for a backlog."""
        async for item in self._items(sub):
            if isinstance(item, list):
                yield json.dumps({"type": "batch", "data": [event_to_dict(e) for e in item]},
                                 default=str, ensure_ascii=False)
            else:
                yield item[1]

    def stats(self) -> dict[str, Any]:
        """Counters for ``/api/health``."""
        tail = self.tail
        return {"enabled": self.enabled, "writer_attached": self._writer is not None, "mode": self.mode,
                "tail_published": 0 if tail is None else tail.published,
                "tail_errors": 0 if tail is None else tail.errors,
                "clients": len(self.subscribers), "max_connections": self.max_connections,
                "lagging_clients": sum(1 for sub in self.subscribers if sub.backlog),
                "dropped_clients": self.dropped_clients, "refused_clients": self.refused_clients}
