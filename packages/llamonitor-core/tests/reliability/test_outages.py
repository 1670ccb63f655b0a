"""Server outages through a loopback TCP proxy: down mid-stream, slow, down at start.

Each test counts what happened — written, spilled, replayed, lost — and checks every event is
in the table exactly once (lost must be 0). PostgreSQL "stopped mid-stream" (the real server
stopped with ``pg_ctlcluster``) lives in ``tests/storage/test_faults.py``. ClickHouse runs
in-process on chDB (no TCP between llamonitor and the engine), so there is nothing a proxy could
cut: it has no outage test here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import monitor_llm
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.transport.replay import replay_spill
from storage_kit import drop, unique_name
from tcp_proxy import TcpProxy, free_port


async def _mysql_count(table: str) -> tuple[int, int]:
    import aiomysql

    conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="", db="test")
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM `test`.`{table}`")
            row = await cur.fetchone()
            return int(row[0]), int(row[1])
    finally:
        conn.close()


async def _pg_count(schema: str) -> tuple[int, int]:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    try:
        row = await conn.fetchrow(f'SELECT COUNT(*), COUNT(DISTINCT event_id) FROM "{schema}"."events"')
        return int(row[0]), int(row[1])
    finally:
        await conn.close()


def _drain(sink: str, timeout: float = 90.0) -> dict[str, Any]:
    """Flush until the sink is healthy and has replayed all it spilled."""
    deadline = time.monotonic() + timeout
    while True:
        llamonitor.flush_sync(30)
        health = llamonitor.health()
        state = health["sinks"][sink]
        if (not state["degraded"] and state["replayed_events"] >= state["spilled_events"]
                and health["queue_size"] == 0) or time.monotonic() > deadline:
            return health
        time.sleep(0.3)


def _fast_retries(storage: StorageConfig, tmp_path: Path) -> MonitorConfig:
    return MonitorConfig(storage=storage, spill_dir=str(tmp_path / "spill"), max_queue_size=100_000,
                         max_retries=3, retry_backoff_seconds=0.05, retry_max_backoff_seconds=0.3,
                         circuit_open_seconds=0.5)


@pytest.mark.timeout(180)
def test_mariadb_down_then_slow_mid_stream_every_event_lands_once(tmp_path: Path) -> None:
    table = unique_name()
    total = 20_000
    proxy = TcpProxy(3306).start()
    storage = StorageConfig(backend="mysql", connection_string=f"mysql://root@127.0.0.1:{proxy.port}/test",
                            table_name=table, batch_size=250, flush_interval_seconds=0.1)
    config = _fast_retries(storage, tmp_path)

    @monitor_llm("mariadb_outage")
    def call(i: int) -> int:
        return i

    def produce() -> None:
        for i in range(total):
            call(i)
            if i % 250 == 249:
                time.sleep(0.1)  # ~8 s of stream

    try:
        llamonitor.initialize_monitoring_sync(config)
        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(1.5)
        proxy.set_down()  # every connection severed, new ones refused
        time.sleep(3.0)
        proxy.set_slow(0.05)  # back, but every chunk held 50 ms
        time.sleep(2.0)
        proxy.set_up()
        producer.join(120)
        health = _drain("mysql")
        llamonitor.shutdown_sync(60)
        leftover = replay_spill(config)  # whatever the writer had not replayed (normally nothing)
        assert leftover.ok, leftover.failures
        sink = health["sinks"]["mysql"]
        counts = {"written": sink["written"], "spilled": sink["spilled_events"],
                  "replayed": sink["replayed_events"] + leftover.events_replayed, "lost": sink["lost_events"]}
        print(f"MariaDB outage through proxy: {counts}, refused connections {proxy.refused}")
        assert proxy.refused > 0 and counts["spilled"] > 0, "the outage was not observed"
        assert counts["lost"] == 0 and health["dropped_overflow"] == 0 and health["build_errors"] == 0
        assert counts["replayed"] == counts["spilled"]
        assert asyncio.run(_mysql_count(table)) == (total, total)
    finally:
        proxy.close()
        asyncio.run(drop(StorageConfig(backend="mysql", connection_string="mysql://root@127.0.0.1:3306/test",
                                       table_name=table)))


@pytest.mark.timeout(120)
def test_postgres_down_at_start_spills_then_lands_once_when_the_server_appears(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    schema = unique_name()
    port = free_port()  # nothing listens here yet
    storage = StorageConfig(backend="postgres", connection_string=f"postgresql://postgres:pw-Zq81@127.0.0.1:{port}/test",
                            schema_name=schema, table_name="events", batch_size=200, flush_interval_seconds=0.05,
                            options={"on_connect_error": "spill"})
    config = _fast_retries(storage, tmp_path)
    caplog.set_level(logging.DEBUG)

    @monitor_llm("pg_down_at_start")
    def call(i: int) -> int:
        return i

    proxy = TcpProxy(5432, port=port)
    try:
        llamonitor.initialize_monitoring_sync(config)  # does not raise: on_connect_error="spill"
        for i in range(2_000):
            call(i)
        llamonitor.flush_sync(30)
        before = llamonitor.health()["sinks"]["postgres"]
        assert before["written"] == 0 and before["spilled_events"] == 2_000 and before["lost_events"] == 0
        proxy.start()  # the server "appears"
        for i in range(2_000, 3_000):
            call(i)
        health = _drain("postgres")
        llamonitor.shutdown_sync(60)
        leftover = replay_spill(config)
        assert leftover.ok, leftover.failures
        sink = health["sinks"]["postgres"]
        print(f"PostgreSQL down at start: written {sink['written']}, spilled {sink['spilled_events']}, "
              f"replayed {sink['replayed_events'] + leftover.events_replayed}, lost {sink['lost_events']}")
        assert sink["lost_events"] == 0 and sink["replayed_events"] + leftover.events_replayed == sink["spilled_events"]
        assert asyncio.run(_pg_count(schema)) == (3_000, 3_000)
        assert "pw-Zq81" not in caplog.text
    finally:
        proxy.close()
        asyncio.run(drop(StorageConfig(backend="postgres", connection_string="postgresql://postgres@127.0.0.1:5432/test",
                                       schema_name=schema, table_name="events")))
