"""Seed ``llmops_monitoring.streaming`` (``.broadcaster``, ``.connection_manager``): llamonitor's live hub.

The API server owns one hub per app (``/api/v1/stream...``); enabling
``extensions["websocket"]`` is all the seed's ``EventBroadcaster.get_instance().enable()`` did.
"""

from __future__ import annotations

from typing import Any

import llamonitor.api.hub as _real
from llamonitor.api.hub import LiveHub

#: seed names of the live feed: the hub both fans events out and holds the client connections
#: (``hub.subscribe(session_id=..., operation_name=...)`` / ``hub.unsubscribe(sub)``)
EventBroadcaster = LiveHub
ConnectionManager = LiveHub
__path__: list[str] = []

__all__ = ["ConnectionManager", "EventBroadcaster", "LiveHub"]


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
