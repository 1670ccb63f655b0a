"""Seed ``llmops_monitoring.streaming`` (``.broadcaster``, ``.connection_manager``) over llamonitor's live hub.

The seed had a process-wide ``EventBroadcaster`` whose ``ConnectionManager`` held the WebSocket
connections, each with optional filters, and pushed every written event to them. Here both are
thin adapters over :class:`llamonitor.api.hub.LiveHub` (no second live feed):

* ``ConnectionManager`` owns one hub. ``connect(websocket, filters)`` accepts the socket, sends
  the seed's welcome message, subscribes it to the hub with its filters (``session_id``,
  ``operation_name``, ``operation_type``, ``error_only``) and starts a task sending it each
  matching event as ``{"type": "event", "data": {...}}`` (the message ``/api/v1/stream`` sends),
  in order, with the hub's bounded queue: a client too slow for its backlog is closed (1013).
* ``EventBroadcaster.get_instance()`` is the process-wide broadcaster. While enabled (``enable()``,
  or a writer started with ``extensions["websocket"]`` enabled, as the seed's writer did), its
  connections receive every event the writer records, and ``broadcast_event(event)`` reaches
  them and the live streams of every API app of this process (``create_api_server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar
from uuid import uuid4

import llamonitor.api.hub as _real
from llamonitor.api.hub import CLOSE_SLOW_CONSUMER, LiveHub, Subscriber, TooManyConnections, live_hubs
from llamonitor.runtime import on_writer_start
from llamonitor.schema.events import MetricEvent

#: a package: the seed imports ``streaming.broadcaster`` and ``streaming.connection_manager``
__path__: list[str] = []

__all__ = ["ConnectionManager", "EventBroadcaster", "LiveHub"]

logger = logging.getLogger("llamonitor.api")


class _SeedHub(LiveHub):
    """The hub of one ``ConnectionManager``: fed by the writer only while ``feed()`` says so."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        #: whether writer batches reach this hub (the broadcaster's ``enabled``)
        self.feed: Callable[[], bool] = lambda: False
        # follow a writer started after the connections (the seed's writer enabled the broadcaster)
        on_writer_start(self._writer_started)

    def _writer_started(self, writer: Any) -> None:
        if self.subscribers:
            self.attach()

    def on_batch(self, events: Sequence[MetricEvent]) -> None:
        if self.feed():
            super().on_batch(events)


def _seed_filter(filters: Mapping[str, Any]) -> Callable[[MetricEvent], bool] | None:
    """The seed filters the hub's subscriber does not have itself, as one condition."""
    op_type = filters.get("operation_type")
    errors_only = bool(filters.get("error_only"))
    if op_type is None and not errors_only:
        return None

    def where(event: MetricEvent) -> bool:
        if op_type is not None and event.operation_type != op_type:
            return False
        return not errors_only or bool(event.error)

    return where


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class ConnectionManager:
    """The seed's WebSocket connection manager, over one :class:`LiveHub`.

    ``max_connections`` / ``queue_size`` bound it like the API server's feed (the seed had no
    limit): beyond ``max_connections``, ``connect`` closes the socket with code 1013 and raises
    :class:`~llamonitor.api.hub.TooManyConnections`.
    """

    def __init__(self, *, max_connections: int = 100, queue_size: int = 1000) -> None:
        self.hub = _SeedHub(max_connections=max_connections, queue_size=queue_size)
        #: connection id -> WebSocket (seed attribute)
        self.active_connections: dict[str, Any] = {}
        #: connection id -> its filters, for connections that have some (seed attribute)
        self.connection_filters: dict[str, dict[str, Any]] = {}
        self._subs: dict[str, Subscriber] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._send_locks: dict[str, asyncio.Lock] = {}

    # -- seed API --------------------------------------------------------------------------------
    async def connect(self, websocket: Any, filters: dict[str, Any] | None = None) -> str:
        """Accept ``websocket``, register it with ``filters`` and start streaming to it; returns
        its connection id. A ``{"type": "connection", ...}`` welcome message is sent first."""
        loop = asyncio.get_running_loop()
        if self.hub.loop is not loop and (self.hub.loop is None or self.hub.loop.is_closed()
                                          or not self.hub.subscribers):
            self.hub.bind_loop(loop)  # first connection, or the previous loop is gone
        filters = dict(filters or {})
        try:  # subscribe before accepting: once connected, the client misses nothing
            sub = self.hub.subscribe(session_id=filters.get("session_id"),
                                     operation_name=filters.get("operation_name"), where=_seed_filter(filters))
        except TooManyConnections:
            await websocket.accept()
            await websocket.close(code=_real.CLOSE_TOO_MANY, reason=f"max_connections ({self.hub.max_connections})")
            raise
        try:
            await websocket.accept()
        except BaseException:
            self.hub.unsubscribe(sub)
            raise
        connection_id = str(uuid4())
        self.active_connections[connection_id] = websocket
        if filters:
            self.connection_filters[connection_id] = filters
        self._subs[connection_id] = sub
        self._send_locks[connection_id] = asyncio.Lock()
        logger.info("llamonitor api: seed WebSocket connected: %s (filters: %s)", connection_id, filters)
        await self.send_personal_message({"type": "connection", "connection_id": connection_id,
                                          "message": "Connected to LLMOps monitoring stream",
                                          "filters": filters, "timestamp": _now()}, websocket)
        self._pumps[connection_id] = loop.create_task(self._pump(connection_id, websocket, sub))
        return connection_id

    async def disconnect(self, connection_id: str) -> None:
        """Forget a connection and stop streaming to it (the socket itself is left to its owner)."""
        self.active_connections.pop(connection_id, None)
        self.connection_filters.pop(connection_id, None)
        self._send_locks.pop(connection_id, None)
        sub = self._subs.pop(connection_id, None)
        if sub is not None and not sub.dropped:
            self.hub.end(sub)
        pump = self._pumps.pop(connection_id, None)
        if pump is not None and pump is not asyncio.current_task() and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        logger.info("llamonitor api: seed WebSocket disconnected: %s", connection_id)

    async def send_personal_message(self, message: dict[str, Any], websocket: Any) -> None:
        """Send ``message`` as JSON to one socket; a failure is logged, not raised (seed behaviour)."""
        lock = next((self._send_locks[cid] for cid, ws in self.active_connections.items()
                     if ws is websocket and cid in self._send_locks), None)
        try:
            if lock is None:
                await websocket.send_text(json.dumps(message, default=str))
            else:
                async with lock:
                    await websocket.send_text(json.dumps(message, default=str))
        except Exception as exc:
            logger.warning("llamonitor api: sending to a seed WebSocket failed: %s", type(exc).__name__)

    async def broadcast(self, message: dict[str, Any]) -> None:
        """Send ``message`` to every connection whose filters it passes (messages that are not
        ``{"type": "event"}`` go to all); connections that fail are disconnected."""
        failed: list[str] = []
        text = json.dumps(message, default=str)
        for cid, websocket in list(self.active_connections.items()):
            filters = self.connection_filters.get(cid)
            if filters and not self._matches_filter(message, filters):
                continue
            lock = self._send_locks.get(cid)
            try:
                if lock is None:
                    await websocket.send_text(text)
                else:
                    async with lock:
                        await websocket.send_text(text)
            except Exception:
                failed.append(cid)
        for cid in failed:
            await self.disconnect(cid)

    async def broadcast_event(self, event: MetricEvent) -> None:
        """Queue ``event`` for every connection it matches (sent in order by each one's task)."""
        self.hub.publish([event])

    def _matches_filter(self, message: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
        """The seed's filter of a message dict: ``session_id``, ``operation_name``,
        ``operation_type`` and ``error_only`` applied to an event's ``data``."""
        if message.get("type") != "event":
            return True
        data = message.get("data") or {}
        for key in ("session_id", "operation_name", "operation_type"):
            if key in filters and data.get(key) != filters[key]:
                return False
        return not filters.get("error_only") or bool(data.get("error"))

    def get_stats(self) -> dict[str, Any]:
        """``active_connections``, ``filtered_connections`` and ``connection_ids`` (seed keys),
        plus the hub's ``lagging_clients`` / ``dropped_clients`` / ``refused_clients``."""
        hub = self.hub
        subs = list(hub.subscribers)  # one C-level copy: safe while the loop thread changes the set
        return {"active_connections": len(self.active_connections),
                "filtered_connections": len(self.connection_filters),
                "connection_ids": list(self.active_connections),
                "lagging_clients": sum(1 for sub in subs if sub.backlog),
                "dropped_clients": hub.dropped_clients, "refused_clients": hub.refused_clients}

    # -- the stream of one connection ------------------------------------------------------------
    async def _pump(self, connection_id: str, websocket: Any, sub: Subscriber) -> None:
        try:
            async for _event, text in self.hub.stream(sub):
                lock = self._send_locks.get(connection_id)
                if lock is None:  # disconnected meanwhile
                    return
                async with lock:
                    await websocket.send_text(text)
            if sub.dropped and connection_id in self.active_connections:  # its backlog overflowed
                with contextlib.suppress(Exception):
                    await websocket.close(code=CLOSE_SLOW_CONSUMER, reason="client too slow: live backlog overflowed")
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away: the seed dropped such connections
            pass
        if connection_id in self.active_connections:
            await self.disconnect(connection_id)


class EventBroadcaster:
    """The seed's process-wide broadcaster (``EventBroadcaster.get_instance()``).

    ``enabled`` is what :meth:`enable` / :meth:`disable` set; until either is called, it is
    whether the running writer's config enables ``extensions["websocket"]`` (the seed's writer
    enabled the broadcaster from that setting).
    """

    _instance: ClassVar[EventBroadcaster | None] = None

    def __init__(self) -> None:
        if EventBroadcaster._instance is not None:
            raise RuntimeError("EventBroadcaster is a singleton. Use get_instance()")
        self.connection_manager = ConnectionManager()
        self._enabled: bool | None = None
        self.connection_manager.hub.feed = lambda: self.enabled
        EventBroadcaster._instance = self

    @classmethod
    def get_instance(cls) -> EventBroadcaster:
        """The broadcaster of this process (created on first use)."""
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    @property
    def enabled(self) -> bool:
        """Whether events are broadcast (see the class doc)."""
        if self._enabled is not None:
            return self._enabled
        return _writer_enables_websocket()

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = bool(value)

    def enable(self) -> None:
        """Broadcast events (the writer's and :meth:`broadcast_event`'s)."""
        self._enabled = True
        self.connection_manager.hub.attach()  # a writer started before any connection feeds it too
        logger.info("llamonitor api: event broadcasting enabled")

    def disable(self) -> None:
        """Stop broadcasting (connections stay open)."""
        self._enabled = False
        logger.info("llamonitor api: event broadcasting disabled")

    async def broadcast_event(self, event: MetricEvent) -> None:
        """Send ``event`` to every matching connection of this broadcaster and every matching
        live stream of the API apps in this process; nothing while disabled."""
        await self.broadcast_events([event])

    async def broadcast_events(self, events: Iterable[MetricEvent]) -> None:
        """:meth:`broadcast_event` for each of ``events``, in order."""
        if not self.enabled:
            return
        batch = list(events)
        if not batch:
            return
        own = self.connection_manager.hub
        for hub in live_hubs():
            if hub is own or (not isinstance(hub, _SeedHub) and hub.enabled):
                try:
                    hub.publish(batch)
                except Exception:
                    logger.exception("llamonitor api: broadcasting events failed")

    def get_connection_manager(self) -> ConnectionManager:
        """The connection manager holding this broadcaster's connections."""
        return self.connection_manager

    def get_stats(self) -> dict[str, Any]:
        """``enabled`` plus the connection manager's :meth:`~ConnectionManager.get_stats`, with
        ``active_connections`` / ``filtered_connections`` also counting the clients of the API
        apps' live streams in this process (the seed's server kept those in this manager)."""
        stats: dict[str, Any] = {"enabled": self.enabled, **self.connection_manager.get_stats()}
        apps = [hub for hub in live_hubs() if not isinstance(hub, _SeedHub)]
        subs = [sub for hub in apps for sub in list(hub.subscribers)]
        stats["api_connections"] = len(subs)
        stats["active_connections"] += len(subs)
        stats["filtered_connections"] += sum(1 for sub in subs if sub.session_id or sub.operation_name)
        return stats


def _writer_enables_websocket() -> bool:
    from llamonitor.runtime import get_writer

    writer = get_writer()
    if writer is None:
        return False
    ws = writer.config.extensions.get("websocket")
    if ws is None:
        return False
    enabled = ws.get("enabled", False) if isinstance(ws, Mapping) else getattr(ws, "enabled", False)
    return bool(enabled)


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
