"""Security checks not covered elsewhere.

Already covered (not repeated here): identifier injection refused by the config and by each
storage backend (``tests/storage/test_safety.py``), a sink's direct errors and an unreachable
server at start scrubbed (``test_safety.py``, ``tests/storage/test_faults.py``,
``tests/test_pipeline.py``), the API refusing requests without its token (``tests/api/test_auth.py``).

Here: the query layer refuses forged identifiers too; and a password in a connection string never
reaches logs, ``health()`` or stderr when a real server drops the connection mid-stream, through
the whole writer path (retries, warnings, spill, circuit breaker, replay) — with a MariaDB user
that really has that password, and PostgreSQL behind a loopback proxy.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import monitor_llm
from llamonitor.query import create_query_backend
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.transport.replay import replay_spill
from testkits.storage import drop, unique_name
from testkits.tcp_proxy import TcpProxy

SECRET = "S3cr3t-" + uuid.uuid4().hex[:10]


@pytest.mark.parametrize(("backend", "dsn"), [("postgres", "postgresql://postgres@127.0.0.1:5432/test"),
                                              ("mysql", "mysql://root@127.0.0.1:3306/test"),
                                              ("clickhouse", "chdb://memory")])
@pytest.mark.parametrize("field", ["table_name", "schema_name"])
def test_query_layer_refuses_forged_identifiers(backend: str, dsn: str, field: str) -> None:
    # model_construct skips validation, as a config assembled by hand or by another tool might
    values: dict[str, Any] = dict(backend=backend, connection_string=dsn, table_name="events",
                                  schema_name=None, options={}, pool_size=1, output_dir=".")
    values[field] = 'events" ; DROP TABLE users; --'
    forged = StorageConfig.model_construct(**values)
    with pytest.raises(ValueError, match=rf"storage\.{field}"):
        create_query_backend(forged)


def test_identifier_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValueError):
        StorageConfig(backend="postgres", connection_string="postgresql://postgres@127.0.0.1/test",
                      table_name="events\n")


async def _mysql_rows(table: str) -> int:
    import aiomysql

    conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="", db="test")
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"SELECT COUNT(DISTINCT event_id) FROM `test`.`{table}`")
            return int((await cur.fetchone())[0])
    finally:
        conn.close()


def _stream_through_outage(config: MonitorConfig, proxy: TcpProxy, sink: str, total: int) -> dict[str, Any]:
    @monitor_llm("secret_dsn_outage")
    def call(i: int) -> int:
        return i

    def produce() -> None:
        for i in range(total):
            call(i)
            if i % 200 == 199:
                time.sleep(0.05)

    llamonitor.initialize_monitoring_sync(config)
    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.5)
    proxy.set_down()
    time.sleep(2.0)
    proxy.set_up()
    producer.join(60)
    deadline = time.monotonic() + 60
    while True:
        llamonitor.flush_sync(30)
        health = llamonitor.health()
        state = health["sinks"][sink]
        if (not state["degraded"] and state["replayed_events"] >= state["spilled_events"]) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.3)
    llamonitor.shutdown_sync(30)
    leftover = replay_spill(config)
    assert leftover.ok
    return health


def _assert_no_secret(health: dict[str, Any], sink: str, caplog: pytest.LogCaptureFixture,
                      capfd: pytest.CaptureFixture[str]) -> None:
    out, err = capfd.readouterr()
    state = health["sinks"][sink]
    assert state["spilled_events"] > 0 and state["failed_attempts"] > 0, "the outage was not observed"
    assert "sink" in caplog.text and "failed" in caplog.text  # the failure was logged ...
    for text in (caplog.text, repr(health), out, err):
        assert SECRET not in text  # ... without the password
    print(f"{sink} last_error: {state['last_error']}")


@pytest.mark.timeout(120)
def test_mariadb_password_never_logged_when_the_server_drops_mid_stream(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    import aiomysql

    user, table = f"u{uuid.uuid4().hex[:10]}", unique_name()

    async def admin(*sql: str) -> None:
        conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="", db="test",
                                      autocommit=True)
        try:
            async with conn.cursor() as cur:
                for s in sql:
                    await cur.execute(s)
        finally:
            conn.close()

    asyncio.run(admin(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{SECRET}'",
                      f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{SECRET}'",
                      f"GRANT ALL ON test.* TO '{user}'@'%'", f"GRANT ALL ON test.* TO '{user}'@'localhost'"))
    proxy = TcpProxy(3306).start()
    caplog.set_level(logging.DEBUG)
    try:
        storage = StorageConfig(backend="mysql", connection_string=f"mysql://{user}:{SECRET}@127.0.0.1:{proxy.port}/test",
                                table_name=table, batch_size=200, flush_interval_seconds=0.05)
        config = MonitorConfig(storage=storage, spill_dir=str(tmp_path / "spill"), max_retries=2,
                               retry_backoff_seconds=0.02, circuit_open_seconds=0.3)
        health = _stream_through_outage(config, proxy, "mysql", 4_000)
        _assert_no_secret(health, "mysql", caplog, capfd)
        assert health["sinks"]["mysql"]["lost_events"] == 0
        rows = asyncio.run(_mysql_rows(table))
        assert rows == 4_000  # the user really authenticated with that password, and nothing was lost
    finally:
        proxy.close()
        asyncio.run(drop(StorageConfig(backend="mysql", connection_string="mysql://root@127.0.0.1:3306/test",
                                       table_name=table)))
        asyncio.run(admin(f"DROP USER IF EXISTS '{user}'@'%'", f"DROP USER IF EXISTS '{user}'@'localhost'"))


@pytest.mark.timeout(120)
def test_postgres_password_never_logged_when_the_server_drops_mid_stream(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    schema = unique_name()
    proxy = TcpProxy(5432).start()
    caplog.set_level(logging.DEBUG)
    try:
        storage = StorageConfig(backend="postgres",
                                connection_string=f"postgresql://postgres:{SECRET}@127.0.0.1:{proxy.port}/test",
                                schema_name=schema, table_name="events", batch_size=200, flush_interval_seconds=0.05)
        config = MonitorConfig(storage=storage, spill_dir=str(tmp_path / "spill"), max_retries=2,
                               retry_backoff_seconds=0.02, circuit_open_seconds=0.3)
        health = _stream_through_outage(config, proxy, "postgres", 4_000)
        _assert_no_secret(health, "postgres", caplog, capfd)
        assert health["sinks"]["postgres"]["lost_events"] == 0
    finally:
        proxy.close()
        asyncio.run(drop(StorageConfig(backend="postgres", connection_string="postgresql://postgres@127.0.0.1:5432/test",
                                       schema_name=schema, table_name="events")))
