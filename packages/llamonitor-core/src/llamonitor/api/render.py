"""JSON bodies built once per answer.

The query layer hands the same answer object back until the storage changes (the summary cache,
the Parquet page cache). Turning it into a response -- dataclasses to dicts, every event through
``event_to_dict``, the dict through FastAPI's response serialiser -- cost more than finding the
answer: about 3 ms for a page of 100 events, on every request. :class:`Bodies` keeps the encoded
body of recent answers (by identity: the object is kept with its body, so an id is never reused
while cached), so a repeated question costs a dictionary lookup and a socket write.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from fastapi import Response

#: bodies kept (least recently used out) and their total size bound
MAX_BODIES = 256
MAX_BYTES = 64 * 1024 * 1024
#: bodies larger than this are not kept (a 10,000-event page)
MAX_BODY = 4 * 1024 * 1024


def dumps(content: Any) -> bytes:
    """``content`` as compact JSON; a value plain JSON cannot hold (NaN, infinity) becomes ``null``
    as FastAPI's own serialiser writes it."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, TypeError):
        from pydantic import TypeAdapter

        return TypeAdapter(Any).dump_json(content)


class Bodies:
    """Encoded JSON bodies of recent answers, by (route, answer identity)."""

    def __init__(self, max_bodies: int = MAX_BODIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_bodies = max_bodies
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[Hashable, int], tuple[Any, bytes]] = OrderedDict()
        self.hits = 0

    def body(self, route: Hashable, answer: Any, build: Callable[[], Any]) -> bytes:
        """The JSON body of ``build()``, built once per ``(route, answer)`` while ``answer`` is cached."""
        key = (route, id(answer))
        found = self._entries.get(key)
        if found is not None and found[0] is answer:
            self._entries.move_to_end(key)
            self.hits += 1
            return found[1]
        body = dumps(build())
        if len(body) <= MAX_BODY:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= len(old[1])
            self._entries[key] = (answer, body)
            self.bytes += len(body)
            while self._entries and (len(self._entries) > self.max_bodies or self.bytes > self.max_bytes):
                _, (_, evicted) = self._entries.popitem(last=False)
                self.bytes -= len(evicted)
        return body

    def response(self, route: Hashable, answer: Any, build: Callable[[], Any]) -> Response:
        """:meth:`body` as an ``application/json`` response."""
        return Response(self.body(route, answer, build), media_type="application/json")
