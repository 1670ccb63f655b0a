"""PostgreSQL backend: write events to PostgreSQL and query them back.

Shows: ``StorageConfig(backend="postgres")`` (asyncpg, binary COPY, table created on first use)
and the query layer (``create_query_backend``) over it. Needs a PostgreSQL server; by default
``postgresql://postgres@127.0.0.1:5432/test`` (override with ``LLAMONITOR_EXAMPLE_POSTGRES``).
Uses its own schema (the event table and the rollup tables kept beside it) and drops it at the end.

Run: ``uv run python examples/14_postgres_backend.py``
"""

import asyncio
import os
import uuid

import asyncpg
from llamonitor import (
    MonitorConfig,
    StorageConfig,
    initialize_monitoring,
    monitor_llm,
    monitoring_session,
    shutdown_monitoring,
)
from llamonitor.query import EventFilter, create_query_backend

DSN = os.environ.get("LLAMONITOR_EXAMPLE_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = f"example_{uuid.uuid4().hex[:8]}"
TABLE = "example_events"


@monitor_llm("answer", measure_text=True, custom_attributes={"model": "gpt-4o-mini"})
async def answer(question: str) -> str:
    if "fail" in question:
        raise RuntimeError("upstream timeout")
    return f"Answer to {question}"


async def main() -> None:
    storage = StorageConfig(backend="postgres", connection_string=DSN, schema_name=SCHEMA, table_name=TABLE,
                            batch_size=50)
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
        print(f"recorded {summary.total_events} events in table {SCHEMA}.{TABLE}, {summary.errors} error(s)")
        print(f"p50 latency {summary.latency.p50_ms:.3f} ms")
        for e in errors.events:
            print(f"  error event: {e.operation_name} {e.error_type}: {e.error_message}")
    finally:
        await query.close()
        conn = await asyncpg.connect(DSN)
        # CASCADE: the rollup tables and functions (<table>_r_*) live in the same schema
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
