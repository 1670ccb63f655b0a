"""Schema versions, identifier injection and password masking on the server backends."""

from __future__ import annotations

import logging

import pydantic
import pytest
from llamonitor.backends.clickhouse import ClickHouseBackend
from llamonitor.backends.dsn import BackendConnectionError, mask_dsn, scrub
from llamonitor.backends.mysql import MySQLBackend
from llamonitor.backends.postgres import PostgresBackend
from llamonitor.backends.registry import create_backend
from llamonitor.backends.sql_common import SchemaMismatchError
from llamonitor.query import create_query_backend
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import SCHEMA_VERSION
from testkits.storage import PG_DSN, admin_backend, execute_sql, make_events

_FOREIGN = {
    "postgres": ['CREATE SCHEMA "{s}"', 'CREATE TABLE "{s}"."events" (event_id text PRIMARY KEY, payload text)'],
    "mysql": ["CREATE TABLE `test`.`{t}` (event_id VARCHAR(64) PRIMARY KEY, payload TEXT)"],
    "clickhouse": ["CREATE DATABASE `{s}`",
                   "CREATE TABLE `{s}`.`events` (event_id String, payload String) "
                   "ENGINE = MergeTree ORDER BY event_id"],
}
_RECOMMENT = {
    "postgres": """COMMENT ON TABLE "{s}"."events" IS 'llamonitor schema_version=0'""",
    "mysql": "ALTER TABLE `test`.`{t}` COMMENT = 'llamonitor schema_version=0'",
    "clickhouse": "ALTER TABLE `{s}`.`events` MODIFY COMMENT 'llamonitor schema_version=0'",
}


async def test_foreign_table_is_refused_naming_the_differences(server_storage: StorageConfig) -> None:
    admin = await admin_backend(server_storage)
    try:
        for sql in _FOREIGN[server_storage.backend]:
            await execute_sql(admin, sql.format(s=server_storage.schema_name, t=server_storage.table_name))
        backend = create_backend(server_storage)
        with pytest.raises(SchemaMismatchError) as info:
            await backend.initialize()
        message = str(info.value)
        assert "no llamonitor schema_version" in message
        assert "missing column(s): session_id" in message and "unexpected column(s): payload" in message
        with pytest.raises(SchemaMismatchError):
            await backend.write_batch(make_events(3))  # never writes into the wrong table
        await backend.close()
    finally:
        await admin.close()


async def test_older_schema_version_is_refused(server_storage: StorageConfig) -> None:
    first = create_backend(server_storage)
    await first.initialize()
    await first.write_batch(make_events(5))
    await execute_sql(first, _RECOMMENT[server_storage.backend].format(s=server_storage.schema_name,
                                                                     t=server_storage.table_name))
    await first.close()
    second = create_backend(server_storage)
    with pytest.raises(SchemaMismatchError,
                       match=f"its schema_version is 0, this llamonitor writes version {SCHEMA_VERSION}"):
        await second.initialize()
    await second.close()


async def test_same_schema_second_start_reuses_the_table(server_storage: StorageConfig) -> None:
    for n in (1, 2):
        backend = create_backend(server_storage)
        await backend.initialize()
        await backend.write_batch(make_events(10 * n))
        await backend.close()
    query = create_query_backend(server_storage)
    assert (await query.summary()).total_events == 20
    await query.close()


@pytest.mark.parametrize("bad", ["events; DROP TABLE x", 'ev"ents', "ev`ents", "1events", "a" * 64, "ev ents", ""])
def test_identifier_injection_is_refused(bad: str) -> None:
    for field in ("table_name", "schema_name"):
        with pytest.raises(pydantic.ValidationError, match=r"letters, digits and underscores"):
            StorageConfig(backend="postgres", connection_string=PG_DSN, **{field: bad})
    for cls, dsn in ((PostgresBackend, PG_DSN), (MySQLBackend, "mysql://root@127.0.0.1/test"),
                     (ClickHouseBackend, "chdb://memory")):
        forged = StorageConfig.model_construct(backend="postgres", connection_string=dsn, table_name=bad,
                                               schema_name=None, options={}, pool_size=1)
        with pytest.raises(ValueError, match=r"storage\.table_name"):
            cls(forged)


def test_mask_dsn_and_scrub() -> None:
    assert mask_dsn("postgresql://user:p%40ss@db.example:5432/app") == "postgresql://user:***@db.example:5432/app"
    assert mask_dsn("mysql://root@127.0.0.1/test") == "mysql://root@127.0.0.1/test"
    assert mask_dsn("clickhouse://h:8123/db?password=hunter2&x=1") == "clickhouse://h:8123/db?password=***&x=1"
    dsn = "postgresql://user:p%40ss@db.example/app"
    assert scrub(f"failed for {dsn} with p@ss and p%40ss", dsn) == (
        "failed for postgresql://user:***@db.example/app with *** and ***")


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
async def test_password_never_reaches_logs_or_errors(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    dsn = {"postgres": "postgresql://postgres:Very-Secret-9@127.0.0.1:1/test",
           "mysql": "mysql://root:Very-Secret-9@127.0.0.1:1/test"}[backend]
    config = StorageConfig(backend=backend, connection_string=dsn, options={"on_connect_error": "spill"})
    sink = create_backend(config)
    await sink.initialize()  # logs a warning instead of raising
    with pytest.raises(BackendConnectionError) as info:
        await sink.write_batch(make_events(2))
    health = await sink.health()
    await sink.close()
    assert "***" in str(info.value) and "***" in caplog.text and "***" in health["dsn"]
    for text in (str(info.value), caplog.text, repr(health)):
        assert "Very-Secret-9" not in text


async def test_postgres_fresh_batches_copy_directly_and_redelivery_goes_through_staging() -> None:
    from testkits.storage import drop, server_config, unique_name

    config = server_config("postgres", unique_name())
    backend = create_backend(config)
    assert isinstance(backend, PostgresBackend)
    try:
        await backend.initialize()
        events = make_events(40)
        await backend.write_batch(events[:30])
        assert backend.redelivered_batches == 0
        await backend.write_batch(events[20:])  # 10 stored already, 10 new
        assert backend.redelivered_batches == 1
        rows = await backend.fetch(f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM {backend.qualified}", ())
        assert rows == [(40, 40)]
    finally:
        await backend.close()
        await drop(config)
