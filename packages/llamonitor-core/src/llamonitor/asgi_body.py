"""Reading an ASGI request body with a size limit (the GraphQL guard and the OTLP receiver)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class BodyTooLarge(Exception):
    """The body grew past the limit (checked while reading, so no more than the limit is held)."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, ``None`` if the client went away first; raises :class:`BodyTooLarge` past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        more = bool(message.get("more_body"))
    return b"".join(chunks)
