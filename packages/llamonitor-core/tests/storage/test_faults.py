"""Outages on real servers, through the real writer: nothing is lost, nothing lands twice."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import llamonitor
import pytest
from llamonitor import monitor_llm
from llamonitor.backends.dsn import BackendConnectionError
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.transport.replay import replay_spill
from testkits.storage import MYSQL_DSN, PG_DSN, drop, unique_name


def _pg_version() -> str:
    return sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]


def _pg(action: str) -> None:
    extra = ["--mode=fast"] if action == "stop" else []
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", action, *extra],
                   check=True, timeout=60)


def _pg_ready(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise TimeoutError("PostgreSQL did not come back")


async def _pg_count(schema: str) -> tuple[int, int]:
    import asyncpg

    conn = await asyncpg.connect(PG_DSN)
    try:
        row = await conn.fetchrow(f'SELECT COUNT(*), COUNT(DISTINCT event_id) FROM "{schema}"."events"')
        return int(row[0]), int(row[1])
    finally:
        await conn.close()


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


def _wait_drained(sink: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        llamonitor.flush_sync(30)
        health = llamonitor.health()
        state = health["sinks"][sink]
        spilled, replayed = state["spilled_events"], state["replayed_events"]
        if not state["degraded"] and replayed >= spilled and health["queue_size"] == 0:
            return health
        if time.monotonic() > deadline:
            return health
        time.sleep(0.5)


@pytest.mark.timeout(240)
@pytest.mark.skipif(shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir(),
                    reason="needs a local Debian PostgreSQL cluster it may stop and start (pg_ctlcluster)")
def test_postgres_stopped_mid_stream_of_50000_events_every_event_lands_once(tmp_path: Path) -> None:
    schema = unique_name()
    storage = StorageConfig(backend="postgres", connection_string=PG_DSN, schema_name=schema, table_name="events",
                            batch_size=500, flush_interval_seconds=0.1, pool_size=4)
    config = MonitorConfig(storage=storage, spill_dir=str(tmp_path / "spill"), max_queue_size=100_000,
                           max_retries=3, retry_backoff_seconds=0.05, retry_max_backoff_seconds=0.5,
                           circuit_open_seconds=1.0)
    total = 50_000

    @monitor_llm("fault_stream")
    def call(i: int) -> int:
        return i

    def produce() -> None:
        for i in range(total):
            call(i)
            if i % 500 == 499:
                time.sleep(0.15)  # ~16 s of stream: the outage falls in the middle

    try:
        llamonitor.initialize_monitoring_sync(config)
        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(2.0)
        _pg("stop")
        stopped_at = time.monotonic()
        time.sleep(10.0)
    finally:
        if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode != 0:
            _pg("start")
        _pg_ready()
    outage = time.monotonic() - stopped_at
    producer.join(120)
    health = _wait_drained("postgres")
    llamonitor.shutdown_sync(60)
    try:
        leftover = replay_spill(config)  # whatever the writer had not replayed yet (normally nothing)
        assert leftover.ok, leftover.failures
        sink = health["sinks"]["postgres"]
        assert outage >= 10.0
        assert sink["spilled_events"] > 0, "the outage was not observed"
        assert sink["lost_events"] == 0 and health["dropped_overflow"] == 0 and health["build_errors"] == 0
        rows, distinct = asyncio.run(_pg_count(schema))
        assert (rows, distinct) == (total, total)
    finally:
        asyncio.run(drop(storage))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mysql_unreachable_at_start_raises_a_clear_masked_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    dsn = f"mysql://root:Sekr1t-pw@127.0.0.1:{port}/test"
    config = MonitorConfig(storage=StorageConfig(backend="mysql", connection_string=dsn, table_name=unique_name()),
                           spill_dir=str(tmp_path / "spill"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BackendConnectionError) as info:
        llamonitor.initialize_monitoring_sync(config)
    message = str(info.value)
    assert f"mysql://root:***@127.0.0.1:{port}/test" in message and "cannot connect" in message
    assert "Sekr1t-pw" not in message and "Sekr1t-pw" not in caplog.text


def test_mysql_unreachable_at_start_spills_by_config_and_nothing_is_lost(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    table = unique_name()
    down = StorageConfig(backend="mysql", connection_string=f"mysql://root:Sekr1t-pw@127.0.0.1:{port}/test",
                         table_name=table, flush_interval_seconds=0.05, options={"on_connect_error": "spill"})
    config = MonitorConfig(storage=down, spill_dir=str(tmp_path / "spill"), max_retries=2,
                           retry_backoff_seconds=0.01, circuit_open_seconds=0.2)
    caplog.set_level(logging.DEBUG)

    @monitor_llm("while_mysql_is_down")
    def call(i: int) -> int:
        return i

    llamonitor.initialize_monitoring_sync(config)
    for i in range(2_000):
        call(i)
    llamonitor.flush_sync(30)
    health = llamonitor.health()
    llamonitor.shutdown_sync(30)
    sink = health["sinks"]["mysql"]
    assert sink["spilled_events"] == 2_000 and sink["lost_events"] == 0 and sink["written"] == 0
    assert "Sekr1t-pw" not in caplog.text and "Sekr1t-pw" not in str(sink["last_error"])
    assert "***" in str(sink["last_error"])

    up = down.model_copy(update={"connection_string": MYSQL_DSN, "options": {}})
    try:
        report = replay_spill(config.model_copy(update={"storage": up}))
        assert report.ok and report.events_replayed == 2_000
        assert asyncio.run(_mysql_count(table)) == (2_000, 2_000)
    finally:
        asyncio.run(drop(up))
