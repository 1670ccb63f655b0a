"""MySQL / MariaDB backend: write events to MySQL and query them back.

Shows: ``StorageConfig(backend="mysql")`` (aiomysql, InnoDB, table created on first use)
and the query layer (``create_query_backend``) over it. Needs a MySQL or MariaDB server; by default
``mysql://root@127.0.0.1:3306/test`` (override with ``LLAMONITOR_EXAMPLE_MYSQL``).
Uses its own table and drops it at the end.

Run: ``uv run python examples/04_mysql_backend.py``
"""

import asyncio
import os
import uuid
from urllib.parse import urlparse

import aiomysql
from llamonitor import (
    MonitorConfig,
    StorageConfig,
    initialize_monitoring,
    monitor_llm,
    monitoring_session,
    shutdown_monitoring,
)
from llamonitor.query import EventFilter, create_query_backend

DSN = os.environ.get("LLAMONITOR_EXAMPLE_MYSQL", "mysql://root@127.0.0.1:3306/test")
TABLE = f"example_events_{uuid.uuid4().hex[:8]}"


@monitor_llm("answer", measure_text=True, custom_attributes={"model": "gpt-4o-mini"})
async def answer(question: str) -> str:
    if "fail" in question:
        raise RuntimeError("upstream timeout")
    return f"Answer to {question}"


async def main() -> None:
    storage = StorageConfig(backend="mysql", connection_string=DSN, table_name=TABLE, batch_size=50)
    await initialize_monitoring(MonitorConfig(storage=storage))
    with monitoring_session("user-42"):
        for q in ["one", "two", "three", "please fail"]:
            try:
                await answer(q)
            except RuntimeError:
                pass
    await shutdown_monitoring()

    query = create_query_backend(storage)
    try:
        summary = await query.summary()
        errors = await query.events(EventFilter(session_id="user-42", errors_only=True), limit=10)
        print(f"recorded {summary.total_events} events in table {TABLE}, {summary.errors} error(s)")
        print(f"p50 latency {summary.latency.p50_ms:.3f} ms")
        for e in errors.events:
            print(f"  error event: {e.operation_name} {e.error_type}: {e.error_message}")
    finally:
        await query.close()
        url = urlparse(DSN)
        conn = await aiomysql.connect(host=url.hostname, port=url.port or 3306, user=url.username,
                                      password=url.password or "", db=url.path.lstrip("/"))
        async with conn.cursor() as cur:
            await cur.execute(f"DROP TABLE IF EXISTS `{TABLE}`")
        conn.close()


if __name__ == "__main__":
    asyncio.run(main())
