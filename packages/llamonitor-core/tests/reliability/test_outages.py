"""Server outages through a loopback TCP proxy, for every server backend (PostgreSQL, MariaDB).

Cases (each on both backends, every one a real server behind :class:`tcp_proxy.TcpProxy`):

- ``down_at_start``: nothing listens when monitoring starts (``on_connect_error="spill"``);
  2,000 events spill; the proxy starts, the writer recovers and replays them; 1,000 more are
  written directly.
- ``down_mid_stream``: a stream of 10,000 events; after 1 s every connection is severed and new
  ones are refused for 2 s.
- ``slow_mid_stream``: the same stream; for 2 s every chunk is held 50 ms (no failure: the queue
  absorbs it, nothing may spill).
- ``slow_dropping_mid_stream``: the same, and every 7th chunk is dropped with its connection cut
  in the middle of a request or a reply (lost acknowledgements: re-delivery must not double rows).
- ``hung_mid_stream``: for 2 s the proxy holds every chunk for a minute (a server or network that
  accepts and never answers, with no error): each write gives up after ``write_timeout_seconds``
  (1 s here), counts as failed, and its batch is retried / spilled; the writer never stalls.

Each case counts what happened -- written, spilled, replayed, lost -- from the writer's
``health()``, checks ``written + spilled == events``, ``replayed == spilled``, ``lost == 0`` and
every event in the table exactly once, and records one row of the table printed at the end of
the run (``conftest.py``). PostgreSQL stopped for real mid-stream (``pg_ctlcluster``) lives in
``tests/storage/test_faults.py``. ClickHouse runs in-process on chDB (no TCP between llamonitor
and the engine), so there is nothing a proxy could cut: it has no outage case here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import monitor_llm
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.transport.replay import replay_spill
from testkits.storage import MYSQL_DSN, PG_DSN, drop, unique_name
from testkits.tcp_proxy import TcpProxy

PG_PASSWORD = "pw-Zq81"  # trust auth ignores it; it must never reach the logs
STREAM, BATCH = 10_000, 250  # 250 events per 0.1 s: a ~4 s stream
AT_START, AFTER_START = 2_000, 1_000
CASES = ("down_at_start", "down_mid_stream", "slow_mid_stream", "slow_dropping_mid_stream", "hung_mid_stream")
WRITE_TIMEOUT = 1.0


async def _count(storage: StorageConfig) -> tuple[int, int]:
    """(rows, distinct event ids) in the case's table, read directly from the real server."""
    if storage.backend == "postgres":
        import asyncpg

        conn = await asyncpg.connect(PG_DSN)
        try:
            row = await conn.fetchrow(
                f'SELECT COUNT(*), COUNT(DISTINCT event_id) FROM "{storage.schema_name}"."events"')
            return int(row[0]), int(row[1])
        finally:
            await conn.close()
    import aiomysql

    conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="", db="test")
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM `test`.`{storage.table_name}`")
            row = await cur.fetchone()
            return int(row[0]), int(row[1])
    finally:
        conn.close()


def _storage(backend: str, port: int, name: str, **extra: Any) -> StorageConfig:
    """The case's destination, reached through the proxy on ``port``."""
    common: dict[str, Any] = dict(batch_size=BATCH, flush_interval_seconds=0.05, **extra)
    if backend == "postgres":
        return StorageConfig(backend="postgres", schema_name=name, table_name="events",
                             connection_string=f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{port}/test", **common)
    return StorageConfig(backend="mysql", table_name=name, connection_string=f"mysql://root@127.0.0.1:{port}/test",
                         **common)


def _direct(storage: StorageConfig) -> StorageConfig:
    """The same destination on the real server port (for counting and dropping)."""
    dsn = PG_DSN if storage.backend == "postgres" else MYSQL_DSN
    return storage.model_copy(update={"connection_string": dsn, "options": {}})


def _config(storage: StorageConfig, tmp_path: Path) -> MonitorConfig:
    return MonitorConfig(storage=storage, spill_dir=str(tmp_path / "spill"), max_queue_size=100_000,
                         max_retries=3, retry_backoff_seconds=0.05, retry_max_backoff_seconds=0.3,
                         circuit_open_seconds=0.5, write_timeout_seconds=WRITE_TIMEOUT)


def _wait(sink: str, done: Callable[[dict[str, Any], dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
    """Flush until ``done(health, sink_state)`` (or the timeout); the last health."""
    deadline = time.monotonic() + timeout
    while True:
        llamonitor.flush_sync(30)
        health = llamonitor.health()
        if done(health, health["sinks"][sink]) or time.monotonic() > deadline:
            return health
        time.sleep(0.1)


def _drained(health: dict[str, Any], state: dict[str, Any]) -> bool:
    return (not state["degraded"] and state["replayed_events"] >= state["spilled_events"]
            and health["queue_size"] == 0)


def _down_at_start(call: Callable[[int], int], proxy: TcpProxy, sink: str) -> int:
    for i in range(AT_START):
        call(i)
    llamonitor.flush_sync(30)
    before = llamonitor.health()["sinks"][sink]
    assert (before["written"], before["spilled_events"], before["lost_events"]) == (0, AT_START, 0), before
    assert before["degraded"] and before["failed_attempts"] > 0
    proxy.start()  # the server "appears": the writer's next probe replays the spill
    recovered = _wait(sink, lambda h, s: not s["degraded"] and s["replayed_events"] == AT_START, timeout=30)
    assert not recovered["sinks"][sink]["degraded"], recovered["sinks"][sink]
    for i in range(AT_START, AT_START + AFTER_START):
        call(i)
    return AT_START + AFTER_START


def _mid_stream(call: Callable[[int], int], outage: Callable[[], None], proxy: TcpProxy) -> int:
    def produce() -> None:
        for i in range(STREAM):
            call(i)
            if i % BATCH == BATCH - 1:
                time.sleep(0.1)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(1.0)
    outage()
    time.sleep(2.0)
    proxy.set_up()
    producer.join(60)
    assert not producer.is_alive()
    return STREAM


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_outage_every_event_lands_once_and_nothing_is_lost(
        backend: str, case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        outage_report: Callable[[dict[str, Any]], None]) -> None:
    proxy = TcpProxy(5432 if backend == "postgres" else 3306)
    extra = {"options": {"on_connect_error": "spill"}} if case == "down_at_start" else {}
    if case != "down_at_start":
        proxy.start()
    storage = _storage(backend, proxy.port, unique_name(), **extra)
    config = _config(storage, tmp_path)
    caplog.set_level(logging.DEBUG)

    @monitor_llm(f"outage_{case}")
    def call(i: int) -> int:
        return i

    t0 = time.monotonic()
    try:
        llamonitor.initialize_monitoring_sync(config)  # with the server down: does not raise ("spill")
        if case == "down_at_start":
            total = _down_at_start(call, proxy, backend)
        elif case == "down_mid_stream":
            total = _mid_stream(call, proxy.set_down, proxy)
        elif case == "slow_mid_stream":
            total = _mid_stream(call, lambda: proxy.set_slow(0.05), proxy)
        elif case == "slow_dropping_mid_stream":
            total = _mid_stream(call, lambda: proxy.set_slow(0.05, drop_every=7), proxy)
        else:
            total = _mid_stream(call, lambda: proxy.set_slow(60.0), proxy)
        health = _wait(backend, _drained, timeout=60)
        llamonitor.shutdown_sync(60)
        leftover = replay_spill(config)  # whatever the writer had not replayed (normally nothing)
        assert leftover.ok, leftover.failures
        rows = asyncio.run(_count(_direct(storage)))
        sink = health["sinks"][backend]
        written, spilled, lost = sink["written"], sink["spilled_events"], sink["lost_events"]
        replayed = sink["replayed_events"] + leftover.events_replayed
        outage_report({
            "backend": backend, "case": case, "events": total, "written": written, "spilled": spilled,
            "replayed": replayed, "lost": lost, "rows (distinct)": f"{rows[0]} ({rows[1]})",
            "failed attempts": sink["failed_attempts"],
            "proxy": f"refused {proxy.refused}, delayed {proxy.delayed}, dropped {proxy.dropped}",
            "seconds": f"{time.monotonic() - t0:.1f}"})
        # every event was processed once, and either written directly or spilled (then replayed)
        assert health["processed"] == total and health["build_errors"] == 0 and health["dropped_overflow"] == 0
        assert lost == 0 and written + spilled == total and replayed == spilled
        assert rows == (total, total)  # each event in the table exactly once
        assert PG_PASSWORD not in caplog.text
        # the outage really happened, as the case intends
        if case == "down_at_start":
            assert (written, spilled) == (AFTER_START, AT_START) and proxy.refused == 0
        elif case == "down_mid_stream":
            assert spilled > 0 and sink["failed_attempts"] > 0
        elif case == "slow_mid_stream":
            assert proxy.delayed > 0 and proxy.dropped == 0
            assert (written, spilled, sink["failed_attempts"]) == (total, 0, 0)  # slow is not a failure
        elif case == "slow_dropping_mid_stream":
            assert proxy.dropped > 0 and sink["failed_attempts"] > 0
        else:
            # writes gave up after the timeout (no error ever came from the wire) and the stream
            # finished long before the proxy would have released the held chunks
            assert sink["failed_attempts"] > 0 and proxy.delayed > 0
            assert "did not finish within write_timeout_seconds=1" in caplog.text
            assert time.monotonic() - t0 < 30
    finally:
        proxy.close()
        asyncio.run(drop(_direct(storage)))
