"""The seed's ``SELECT ... FROM metric_events ORDER BY timestamp`` works on every SQL backend."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent
from testkits.storage import CH_DSN, PG_DSN, store

STARTS = {"second": datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
          "first": datetime(2025, 12, 31, 23, 59, 59, 1, tzinfo=timezone.utc),
          "third": datetime(2026, 2, 1, tzinfo=timezone.utc)}


async def seed_query(config: StorageConfig) -> list[tuple[Any, ...]]:
    if config.backend == "postgres":
        import asyncpg

        conn = await asyncpg.connect(PG_DSN)
        try:
            rows = await conn.fetch(f'SELECT operation_name, timestamp FROM "{config.schema_name}"."events" '
                                    "ORDER BY timestamp")
            return [tuple(r) for r in rows]
        finally:
            await conn.close()
    if config.backend == "mysql":
        import aiomysql

        conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="", db="test")
        try:
            async with conn.cursor() as cur:
                await cur.execute(f"SELECT operation_name, timestamp FROM `{config.table_name}` ORDER BY timestamp")
                return [(name, ts.replace(tzinfo=timezone.utc)) for name, ts in await cur.fetchall()]
        finally:
            conn.close()
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=CH_DSN)
    rows = client.query(f"SELECT operation_name, timestamp FROM `{config.schema_name}`.`events` "
                        "ORDER BY timestamp").result_rows
    return [(name, ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)) for name, ts in rows]


def test_order_by_timestamp(server_storage: StorageConfig) -> None:
    events = [MetricEvent(session_id="s", trace_id="t", span_id=name, operation_name=name,  # type: ignore[call-arg]
                          timestamp=start, duration_ms=5.0) for name, start in STARTS.items()]
    asyncio.run(store(server_storage, events))
    rows = asyncio.run(seed_query(server_storage))
    assert [name for name, _ in rows] == ["first", "second", "third"]
    assert [ts for _, ts in rows] == sorted(STARTS.values())
