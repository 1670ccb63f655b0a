"""MySQL / MariaDB backend: aiomysql pool, multi-row inserts, idempotent on ``event_id``.

Batches go in as multi-row ``INSERT ... ON DUPLICATE KEY UPDATE event_id = event_id`` (a
re-delivered event is a no-op; unlike ``INSERT IGNORE`` this does not also turn data errors
into silent truncation). The table is InnoDB, ``utf8mb4`` with binary collation (ids compare
and sort by code point, as everywhere else), with the indexes the query layer uses. Columns
follow :mod:`llamonitor.backends.sql_common`; the schema version is the table comment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from llamonitor.backends.errors import refused_data
from llamonitor.backends.sql_common import (
    COMMENT_PREFIX,
    Migration,
    MissingDatabaseError,
    ServerBackend,
    StorageWriteError,
    check_existing_table,
    logger,
)
from llamonitor.schema.columns import COLUMNS, SEED_TIMESTAMP_COLUMN, rows_to_write
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import SCHEMA_VERSION, MetricEvent

_ID_COLUMNS = {"event_id", "session_id", "trace_id", "span_id", "parent_span_id"}
_TYPES = {"str": "LONGTEXT", "text": "LONGTEXT", "int": "BIGINT", "int32": "INT", "float": "DOUBLE",
          "bool": "BOOLEAN", "ns": "BIGINT", "json": "JSON"}
INDEXES: tuple[tuple[str, str], ...] = (
    ("start", "start_time_ns, event_id"), ("session", "session_id, start_time_ns"),
    ("trace", "trace_id, start_time_ns"), ("operation", "operation_name, start_time_ns"),
    ("model", "model"), ("agent", "agent_name"),
)


def q(name: str) -> str:
    """Quote a (validated) identifier."""
    return f"`{name}`"


def column_type(name: str, kind: str) -> str:
    """MySQL type of a column (ids VARCHAR(255), other indexable names VARCHAR(512))."""
    if kind == "key":
        return "VARCHAR(255)" if name in _ID_COLUMNS else "VARCHAR(512)"
    return _TYPES[kind]


class MySQLBackend(ServerBackend):
    """Stores events in one InnoDB table (``schema_name`` or the DSN's database)."""

    name = "mysql"

    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config)
        parts = urlsplit(self.dsn)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 3306
        self.user = unquote(parts.username) if parts.username else "root"
        self.password = unquote(parts.password) if parts.password else ""
        database = self.schema or unquote(parts.path.lstrip("/").split("/")[0])
        if not database:
            raise ValueError(f"mysql backend: name a database in the DSN ({self.masked_dsn}) or in storage.schema_name")
        self.database: str = database
        self.qualified = f"{q(self.database)}.{q(self.table)}"
        self.pool: Any = None
        self._insert_sql: dict[tuple[str, ...], str] = {}

    def insert_sql(self, names: tuple[str, ...]) -> str:
        """The multi-row insert of ``names`` (an event already stored is left as it is)."""
        sql = self._insert_sql.get(names)
        if sql is None:
            sql = self._insert_sql[names] = (
                f"INSERT INTO {self.qualified} ({', '.join(q(c) for c in names)}) "
                f"VALUES ({', '.join(['%s'] * len(names))}) ON DUPLICATE KEY UPDATE event_id = event_id")
        return sql

    async def setup(self) -> None:
        import aiomysql

        if self.pool is None:
            self.pool = await aiomysql.create_pool(
                host=self.host, port=self.port, user=self.user, password=self.password, db=None,
                minsize=1, maxsize=self.config.pool_size, autocommit=True, charset="utf8mb4",
                connect_timeout=10, init_command="SET time_zone = '+00:00'")
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT TABLE_COMMENT FROM information_schema.TABLES "
                              "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (self.database, self.table))
            found = await cur.fetchone()
            if found is not None:
                await cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                                  "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (self.database, self.table))
                names = [r[0] for r in await cur.fetchall()]
                migration = check_existing_table(self.qualified, found[0], names)
                if migration is not None:
                    await self._migrate(cur, migration)
                return
            await cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (self.database,))
            if await cur.fetchone() is None:
                if not self.config.create_database:
                    # A typo in the DSN must not silently become a new, empty database.
                    raise MissingDatabaseError(f"MariaDB/MySQL database {self.database!r} does not exist; create it or "
                                     f"set StorageConfig(create_database=True)")
                await cur.execute(f"CREATE DATABASE IF NOT EXISTS {q(self.database)} CHARACTER SET utf8mb4")
            defs = [f"{q(c.name)} {column_type(c.name, c.kind)}{'' if c.nullable else ' NOT NULL'}"
                    for c in COLUMNS]
            # The seed's queries read a ``timestamp`` column: virtual, so it costs no storage or write.
            defs.append(f"{q(SEED_TIMESTAMP_COLUMN)} DATETIME(6) AS "
                        f"(TIMESTAMPADD(MICROSECOND, start_time_ns DIV 1000, '1970-01-01')) VIRTUAL")
            defs.append("PRIMARY KEY (event_id)")
            defs += [f"KEY {q(self.table[:50] + '_' + suffix)} ({', '.join(q(c.strip()) for c in cols.split(','))})"
                     for suffix, cols in INDEXES]
            await cur.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified} ({', '.join(defs)}) ENGINE=InnoDB "
                              f"DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin "
                              f"COMMENT='{COMMENT_PREFIX}{SCHEMA_VERSION}'")

    async def _migrate(self, cur: Any, migration: Migration) -> None:
        """Add the columns later schema versions added, then record the version.

        MySQL has no ``ADD COLUMN IF NOT EXISTS`` (MariaDB has): a column another writer added
        first answers "duplicate column" (1060), which is success here.
        """
        import pymysql

        for col in migration.add:
            try:
                await cur.execute(f"ALTER TABLE {self.qualified} ADD COLUMN {q(col.name)} "
                                  f"{column_type(col.name, col.kind)}")
            except pymysql.err.OperationalError as exc:
                if not exc.args or exc.args[0] != 1060:
                    raise
        await cur.execute(f"ALTER TABLE {self.qualified} COMMENT='{migration.comment()}'")
        logger.info("llamonitor: mysql backend: %s migrated from schema version %d to %d (added %s)",
                    self.qualified, migration.from_version, SCHEMA_VERSION,
                    ", ".join(c.name for c in migration.add) or "no column")

    async def write_batch(self, events: Sequence[MetricEvent]) -> None:
        if not events:
            return
        await self.ensure_ready()
        names, rows = rows_to_write(events)
        try:
            async with self.pool.acquire() as conn:
                try:
                    async with conn.cursor() as cur:
                        await cur.executemany(self.insert_sql(names), rows)
                except asyncio.CancelledError:
                    conn.close()  # cancelled by the write timeout: drop the connection (state unknown)
                    raise
        except Exception as exc:
            raise StorageWriteError(str(self.error("write to", exc)), refused_data=refused_data(exc)) from None
        self.rows_written += len(rows)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run a read query with bound ``%s`` parameters (used by the query layer)."""
        await self.ensure_ready()
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql, tuple(params))
            return [tuple(r) for r in await cur.fetchall()]

    async def server_version(self) -> str:
        """``SELECT VERSION()`` (the query layer checks for MariaDB's window PERCENTILE_CONT)."""
        rows = await self.fetch("SELECT VERSION()", ())
        return str(rows[0][0])

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            pool.close()
            await pool.wait_closed()
        self.ready = False
