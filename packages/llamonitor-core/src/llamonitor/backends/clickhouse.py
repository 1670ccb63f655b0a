"""ClickHouse backend: clickhouse-connect (HTTP), ReplacingMergeTree keyed on the event.

Table: ``ReplacingMergeTree`` partitioned by ``toYYYYMM(start_time)`` and ordered by
``(toStartOfHour(start_time), event_id)``. A re-delivered event has the same sorting key, so
merges keep one copy and every query of the query layer reads with ``FINAL`` (exact even
before the merge). Times are ``DateTime64(9, 'UTC')`` (exact nanoseconds). Nested groups are
flat columns as in :mod:`llamonitor.backends.sql_common`; ``custom_attributes`` is a JSON
``String`` (``JSONExtract*`` works on it). The schema version is the table comment.

The driver is synchronous, so calls run on a helper thread (the writer's loop never blocks).
A ``chdb://`` DSN (``chdb`` package installed) runs the same code on the in-process chDB engine;
that is how the test suite exercises this backend. The native protocol port 9000 of the seed
README is mapped to the HTTP port 8123, which is what clickhouse-connect speaks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llamonitor.backends.errors import refused_data
from llamonitor.backends.sql_common import COMMENT_PREFIX, ServerBackend, StorageWriteError, check_existing_table
from llamonitor.schema.columns import COLUMN_NAMES, COLUMNS, SEED_TIMESTAMP_COLUMN, rows_to_write
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import SCHEMA_VERSION, MetricEvent

logger = logging.getLogger("llamonitor")
#: chDB is one engine per process and an in-memory database lives as long as its client: one
#: shared client per DSN, used under a lock
_EMBEDDED: dict[str, Any] = {}
_EMBEDDED_LOCK = threading.RLock()
_TYPES = {"key": "String", "str": "String", "text": "String", "int": "Int64", "int32": "Int32",
          "float": "Float64", "bool": "Bool", "ns": "DateTime64(9, 'UTC')", "json": "String"}
#: our column name -> ClickHouse column name (times are real DateTime64 columns)
STORED_NAME = {"start_time_ns": "start_time", "end_time_ns": "end_time"}
STORED_COLUMNS: tuple[str, ...] = tuple(STORED_NAME.get(c, c) for c in COLUMN_NAMES)
SKIP_INDEXES = ("session_id", "trace_id", "operation_name", "model", "agent_name")


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


def q(name: str) -> str:
    """Quote a (validated) identifier."""
    return f"`{name}`"


def column_type(kind: str, nullable: bool) -> str:
    """ClickHouse type of a column."""
    base = _TYPES[kind]
    return f"Nullable({base})" if nullable and kind != "ns" else base


def select_list() -> str:
    """Columns in :data:`COLUMN_NAMES` order, times as integer nanoseconds."""
    return ", ".join(f"toUnixTimestamp64Nano({q(STORED_NAME[c])})" if c in STORED_NAME else q(c)
                     for c in COLUMN_NAMES)


class ClickHouseBackend(ServerBackend):
    """Stores events in one ClickHouse table (database: ``schema_name`` or the DSN's path)."""

    name = "clickhouse"

    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config)
        parts = urlsplit(self.dsn)
        self.embedded = parts.scheme == "chdb"
        dsn_db = parts.path.lstrip("/").split("/")[0] if not self.embedded or parts.netloc else ""
        self.database = self.schema or dsn_db or "default"
        # Connect without a database (it may not exist yet); every statement names it.
        scheme, netloc = parts.scheme, parts.netloc
        if self.embedded:
            self.client_dsn = urlunsplit((scheme, netloc, "" if netloc else parts.path, parts.query, ""))
        else:
            if parts.port == 9000:
                logger.warning("llamonitor: clickhouse-connect speaks HTTP; using port 8123 instead of 9000")
                netloc = netloc.rsplit(":", 1)[0] + ":8123"
            if scheme in ("clickhouse", "clickhouse+http"):
                scheme = "http"
            elif scheme in ("clickhouses", "clickhouse+https"):
                scheme = "https"
            self.client_dsn = urlunsplit((scheme, netloc, "", parts.query, ""))
        self.qualified = f"{q(self.database)}.{q(self.table)}"
        self.client: Any = None

    def _connect(self) -> Any:
        import clickhouse_connect

        if self.embedded:
            with _EMBEDDED_LOCK:
                if self.client_dsn not in _EMBEDDED:
                    _EMBEDDED[self.client_dsn] = clickhouse_connect.get_client(dsn=self.client_dsn)
                return _EMBEDDED[self.client_dsn]
        return clickhouse_connect.get_client(dsn=self.client_dsn, connect_timeout=10)

    def _setup_sync(self) -> None:
        if self.client is None:
            self.client = self._connect()
        c = self.client
        found = c.query("SELECT comment FROM system.tables WHERE database = %(db)s AND name = %(t)s",
                        parameters={"db": self.database, "t": self.table}).result_rows
        if found:
            names = [r[0] for r in c.query("SELECT name FROM system.columns WHERE database = %(db)s AND table = %(t)s",
                                           parameters={"db": self.database, "t": self.table}).result_rows]
            back = {v: k for k, v in STORED_NAME.items()}
            migration = check_existing_table(self.qualified, found[0][0], [back.get(n, n) for n in names])
            if migration is not None:
                # Columns later schema versions added (IF NOT EXISTS: another writer may be first),
                # then the version; ClickHouse adds a column as metadata only, stored parts read NULL.
                for col in migration.add:
                    c.command(f"ALTER TABLE {self.qualified} ADD COLUMN IF NOT EXISTS "
                              f"{q(STORED_NAME.get(col.name, col.name))} {column_type(col.kind, col.nullable)}")
                c.command(f"ALTER TABLE {self.qualified} MODIFY COMMENT '{migration.comment()}'")
                logger.info("llamonitor: clickhouse backend: %s migrated from schema version %d to %d",
                            self.qualified, migration.from_version, SCHEMA_VERSION)
            return
        c.command(f"CREATE DATABASE IF NOT EXISTS {q(self.database)}")
        defs = [f"{q(STORED_NAME.get(col.name, col.name))} {column_type(col.kind, col.nullable)}" for col in COLUMNS]
        # The seed's queries read a ``timestamp`` column: an ALIAS, computed on read, never stored.
        defs.append(f"{q(SEED_TIMESTAMP_COLUMN)} DateTime64(9, 'UTC') ALIAS start_time")
        defs += [f"INDEX {q(name + '_idx')} {q(name)} TYPE bloom_filter GRANULARITY 4" for name in SKIP_INDEXES]
        c.command(f"CREATE TABLE IF NOT EXISTS {self.qualified} ({', '.join(defs)}) "
                  f"ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(start_time) "
                  f"ORDER BY (toStartOfHour(start_time), event_id) "
                  f"COMMENT '{COMMENT_PREFIX}{SCHEMA_VERSION}'")

    async def setup(self) -> None:
        def run() -> None:
            with self._locked():
                self._setup_sync()

        await asyncio.to_thread(run)

    def _locked(self) -> Any:
        return _EMBEDDED_LOCK if self.embedded else _NO_LOCK

    def _insert(self, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        with self._locked():
            self.client.insert(self.table, rows, column_names=[STORED_NAME.get(c, c) for c in names],
                               database=self.database)

    async def write_batch(self, events: Sequence[MetricEvent]) -> None:
        if not events:
            return
        await self.ensure_ready()
        names, rows = rows_to_write(events)
        try:
            await asyncio.to_thread(self._insert, names, rows)
        except Exception as exc:
            raise StorageWriteError(str(self.error("write to", exc)), refused_data=refused_data(exc)) from None
        self.rows_written += len(rows)

    def fetch_sync(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run a read query with client-side bound ``%(name)s`` parameters."""
        with self._locked():
            return [tuple(r) for r in self.client.query(sql, parameters=params).result_rows]

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Async :meth:`fetch_sync` (used by the query layer)."""
        await self.ensure_ready()
        return await asyncio.to_thread(self.fetch_sync, sql, params)

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            if not self.embedded:  # closing a chDB client would end the process-wide session
                await asyncio.to_thread(client.close)
        self.ready = False
