"""Several writers starting at once on a destination that does not exist yet (gunicorn / Celery
workers booting together, ``serve`` ingesting beside its query layer) all start, and all write.

PostgreSQL's ``CREATE SCHEMA / TABLE IF NOT EXISTS`` are not safe against each other: two sessions
that both see nothing both create, and one fails on a catalog unique index.
"""

from __future__ import annotations

import asyncio

from llamonitor.backends.registry import create_backend
from llamonitor.query import create_query_backend
from llamonitor.schema.config import StorageConfig
from testkits.storage import make_events

WRITERS = 8


async def test_writers_starting_together_on_a_new_destination_all_start(server_storage: StorageConfig) -> None:
    backends = [create_backend(server_storage) for _ in range(WRITERS)]
    try:
        results = await asyncio.gather(*(b.setup() for b in backends), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        events = make_events(WRITERS * 5)
        await asyncio.gather(*(b.write_batch(events[i::WRITERS]) for i, b in enumerate(backends)))
    finally:
        for b in backends:
            await b.close()
    reader = create_query_backend(server_storage)
    try:
        assert (await reader.summary()).total_events == WRITERS * 5
    finally:
        await reader.close()
