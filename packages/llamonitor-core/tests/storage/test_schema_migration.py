"""Tables and files of schema version 1 (before ``response_model`` and ``system_instructions``) keep working.

A server table of version 1 gains the two columns when a writer starts on it (its rows read back
with ``None``), and its comment then says version 2; a second start changes nothing. Parquet
files written without the columns read back with ``None`` beside new files.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from llamonitor.backends.registry import create_backend
from llamonitor.backends.sql_common import COMMENT_PREFIX, SchemaMismatchError, parse_comment_version
from llamonitor.query import create_query_backend
from llamonitor.query.types import MAX_PAGE
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import SCHEMA_VERSION, MetricEvent
from testkits.storage import admin_backend, execute_sql, make_events

V2_COLUMNS = ("response_model", "system_instructions")
_TABLE = {"postgres": '"{s}"."events"', "mysql": "`test`.`{t}`", "clickhouse": "`{s}`.`events`"}
_COMMENT = {"postgres": "COMMENT ON TABLE {table} IS '{comment}'", "mysql": "ALTER TABLE {table} COMMENT = '{comment}'",
            "clickhouse": "ALTER TABLE {table} MODIFY COMMENT '{comment}'"}


async def _as_version_1(config: StorageConfig) -> str:
    """Turn a fresh table into what llamonitor 1 created: no version-2 columns, comment version 1."""
    admin = await admin_backend(config)
    table = _TABLE[config.backend].format(s=config.schema_name, t=config.table_name)
    try:
        for column in V2_COLUMNS:
            await execute_sql(admin, f"ALTER TABLE {table} DROP COLUMN {column}")
        await execute_sql(admin, _COMMENT[config.backend].format(table=table, comment=f"{COMMENT_PREFIX}1"))
    finally:
        await admin.close()
    return table


async def _comment(config: StorageConfig) -> str | None:
    admin = await admin_backend(config)
    try:
        if config.backend == "postgres":
            sql = f"SELECT obj_description(to_regclass('\"{config.schema_name}\".\"events\"'), 'pg_class')"
        elif config.backend == "mysql":
            sql = ("SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' "
                   f"AND TABLE_NAME = '{config.table_name}'")
        else:
            sql = f"SELECT comment FROM system.tables WHERE database = '{config.schema_name}' AND name = 'events'"
        return str((await execute_sql(admin, sql))[0][0])
    finally:
        await admin.close()


async def _all(config: StorageConfig) -> list[MetricEvent]:
    query = create_query_backend(config)
    try:
        return (await query.events(None, limit=MAX_PAGE)).events
    finally:
        await query.close()


async def test_version_1_table_gains_the_column(server_storage: StorageConfig) -> None:
    first = create_backend(server_storage)
    await first.initialize()
    old = make_events(20, seed=1)
    for e in old:
        e.response_model = e.system_instructions = None  # version 1 had no such fields
    await first.write_batch(old)
    await first.close()
    await _as_version_1(server_storage)

    new = [e for e in make_events(20, seed=2) if e.response_model is not None or e.system_instructions]
    assert new
    for _ in range(2):  # the second start finds a current table and changes nothing
        backend = create_backend(server_storage)
        await backend.initialize()
        await backend.write_batch(new)  # stored once: the second write is a re-delivery
        await backend.close()
        assert parse_comment_version(await _comment(server_storage)) == SCHEMA_VERSION
    got = {e.event_id: e for e in await _all(server_storage)}
    assert len(got) == len(old) + len(new)
    assert all(got[e.event_id] == e for e in old)  # every field of the old rows intact, response_model None
    assert all(got[e.event_id].response_model == e.response_model and got[e.event_id] == e for e in new)


async def test_version_1_table_missing_another_column_is_refused(server_storage: StorageConfig) -> None:
    first = create_backend(server_storage)
    await first.initialize()
    await first.close()
    table = await _as_version_1(server_storage)
    admin = await admin_backend(server_storage)
    try:
        await execute_sql(admin, f"ALTER TABLE {table} DROP COLUMN provider")
    finally:
        await admin.close()
    second = create_backend(server_storage)
    with pytest.raises(SchemaMismatchError, match=r"missing column\(s\): provider") as info:
        await second.initialize()
    assert "response_model" not in str(info.value)  # those it would have added
    await second.close()


async def test_parquet_files_of_version_1_read_beside_new_ones(tmp_path: Path) -> None:
    config = StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"))
    old = make_events(30, seed=4)
    for e in old:
        e.response_model = e.system_instructions = None
    backend = create_backend(config)
    await backend.initialize()
    await backend.write_batch(old)
    await backend.close()
    files = list((tmp_path / "data").rglob("*.parquet"))
    assert files
    for path in files:  # rewrite as version 1 wrote them: without the version-2 columns
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(list(V2_COLUMNS)).replace_schema_metadata(table.schema.metadata), path)
        assert not set(V2_COLUMNS) & set(pq.read_schema(path).names)
    new = make_events(30, seed=5)
    backend = create_backend(config)
    await backend.initialize()
    await backend.write_batch(new)
    await backend.close()
    got = {e.event_id: e for e in await _all(config)}
    assert len(got) == 60
    assert all(got[e.event_id] == e for e in old + new)
    assert any(e.response_model for e in new) and any(e.system_instructions for e in new)
