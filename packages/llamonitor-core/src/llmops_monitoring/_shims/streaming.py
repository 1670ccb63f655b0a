"""Seed ``llmops_monitoring.streaming``: the live event feed is :class:`llamonitor.api.hub.LiveHub`.

The API server owns one hub per app (``/api/v1/stream...``); enabling
``extensions["websocket"]`` is all the seed's ``EventBroadcaster.get_instance().enable()`` did.
"""

from __future__ import annotations

from typing import Any

import llamonitor.api.hub as _real
from llamonitor.api.hub import LiveHub

#: seed name of the live feed
EventBroadcaster = LiveHub
__path__: list[str] = []

__all__ = ["EventBroadcaster", "LiveHub"]


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
