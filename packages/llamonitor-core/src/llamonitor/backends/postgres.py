"""PostgreSQL backend: asyncpg pool, binary COPY, idempotent on ``event_id``.

Each batch is copied with binary COPY (the fastest path into PostgreSQL) straight into the
table in its own transaction; a batch of 2,000 rows or more is split over
``options["copy_streams"]`` connections (default 2), whose server processes work in parallel
while this thread encodes the next part. If any of its events is already stored -- a batch the writer
re-delivers after a failure, possibly after a commit whose acknowledgement was lost -- the
primary key rejects the COPY, which is rolled back whole, and the batch goes through a
per-connection temporary staging table and ``INSERT ... SELECT ... ON CONFLICT (event_id) DO
NOTHING`` instead: re-delivery never doubles rows. Columns follow
:mod:`llamonitor.backends.sql_common` (nested groups flattened, ``custom_attributes`` as JSONB,
times as exact integer nanoseconds). After each batch is stored, a ``NOTIFY`` on the table's
channel (:func:`notify_channel`) says which events landed -- their count, start-time range and
event-id range -- so a ``llamonitor serve`` in another process shows them live at once
(``LISTEN``; ``options={"notify": False}`` leaves it out). Summary rollups are kept beside the table by a trigger
(:mod:`llamonitor.backends.pg_rollups`; ``options={"rollups": False}`` leaves them out). The table comment records
the schema version; a second start against a different table stops with a message naming the
difference (:class:`~llamonitor.backends.sql_common.SchemaMismatchError`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from llamonitor.backends import pg_rollups
from llamonitor.backends.dsn import scrub, strip_driver
from llamonitor.backends.errors import refused_data
from llamonitor.backends.sql_common import (
    COMMENT_PREFIX,
    Migration,
    ServerBackend,
    StorageWriteError,
    check_existing_table,
    logger,
)
from llamonitor.schema.columns import COLUMNS, SEED_TIMESTAMP_COLUMN, rows_to_write
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import SCHEMA_VERSION, MetricEvent

_TYPES = {"key": 'text COLLATE "C"', "str": "text", "text": "text", "int": "bigint", "int32": "integer",
          "float": "double precision", "bool": "boolean", "ns": "bigint", "json": "jsonb"}
#: (index suffix, columns)
INDEXES: tuple[tuple[str, str], ...] = (
    ("start", "start_time_ns, event_id"), ("session", "session_id, start_time_ns"),
    ("trace", "trace_id, start_time_ns"), ("operation", "operation_name, start_time_ns"),
    ("model", "model"), ("agent", "agent_name"),
)


#: a batch is split over several connections only into parts of at least this many rows
MIN_STREAM_ROWS = 1_000


def q(name: str) -> str:
    """Quote a (validated) identifier."""
    return f'"{name}"'


def notify_channel(schema: str, table: str) -> str:
    """The ``LISTEN`` / ``NOTIFY`` channel of ``schema.table`` (a short, safe identifier)."""
    return "llamonitor_" + hashlib.blake2b(f"{schema}.{table}".encode(), digest_size=8).hexdigest()


def notify_payload(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """What a batch's notification says (well under PostgreSQL's 8,000-byte payload limit): how
    many events, and the range of their start times and of their ids (from the rows written)."""
    start, ident = names.index("start_time_ns"), names.index("event_id")
    starts = [r[start] for r in rows]
    ids = [r[ident] for r in rows]
    payload = json.dumps({"n": len(rows), "lo": min(starts), "hi": max(starts), "idlo": min(ids),
                          "idhi": max(ids)}, ensure_ascii=False)
    if len(payload.encode()) > 7_900:  # very long ids: the time range alone (the listener reads it all)
        payload = json.dumps({"n": len(rows), "lo": min(starts), "hi": max(starts)})
    return payload


class PostgresBackend(ServerBackend):
    """Stores events in one PostgreSQL table (``schema_name.table_name``)."""

    name = "postgres"

    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config)
        self.pg_dsn = strip_driver(self.dsn, "postgresql") if "+" in self.dsn.split("://", 1)[0] else self.dsn
        self.schema_or_public = self.schema or "public"
        self.qualified = f"{q(self.schema_or_public)}.{q(self.table)}"
        self.stage = f"llamonitor_stage_{self.table}"[:63]
        self.pool: Any = None
        #: keep the summary rollups (:mod:`llamonitor.backends.pg_rollups`)
        self.rollups = config.option_flag("rollups", True)
        self.rollup_names = pg_rollups.RollupNames.of(self.schema_or_public, self.table)
        streams = config.options.get("copy_streams", 2)
        if isinstance(streams, bool) or not isinstance(streams, int) or streams < 1:
            raise ValueError(f"storage.options['copy_streams'] must be a positive integer; got {streams!r}")
        #: connections one large batch is copied over in parallel (at most ``pool_size``)
        self.copy_streams = min(streams, config.pool_size)
        #: batches (or parts) that already had stored events (re-deliveries) and went through staging
        self.redelivered_batches = 0
        #: ``NOTIFY`` each stored batch on :attr:`channel` (for ``llamonitor serve``'s live feed)
        self.notify = config.option_flag("notify", True)
        self.channel = notify_channel(self.schema_or_public, self.table)
        self.notify_failures = 0

    def _columns_ddl(self, *, constraints: bool) -> str:
        parts = []
        for col in COLUMNS:
            null = "" if (col.nullable or not constraints) else " NOT NULL"
            parts.append(f"{q(col.name)} {_TYPES[col.kind]}{null}")
        if constraints:
            parts.append("PRIMARY KEY (event_id)")
        return ", ".join(parts)

    async def setup(self) -> None:
        import asyncpg

        if self.pool is None:
            # Percentile sorts of a million rows fit in memory instead of spilling to disk.
            work_mem = str(self.config.options.get("work_mem", "64MB"))
            self.pool = await asyncpg.create_pool(dsn=self.pg_dsn, min_size=1, max_size=self.config.pool_size,
                                                  timeout=10, server_settings={"work_mem": work_mem})
        async with self.pool.acquire() as conn:
            # Writers starting together on a new destination (workers booting at once): CREATE ...
            # IF NOT EXISTS is not safe against a concurrent CREATE of the same name (one fails on a
            # catalog unique index), so set-up is serialised per table by an advisory lock.
            await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", self.qualified)
            try:
                await self._create_or_migrate(conn)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", self.qualified)

    async def _create_or_migrate(self, conn: Any) -> None:
        """Create the table (and schema, indexes, rollups), or migrate an older one; under the set-up lock."""
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", self.qualified)
        if exists:
            comment = await conn.fetchval("SELECT obj_description(to_regclass($1), 'pg_class')", self.qualified)
            cols = await conn.fetch("SELECT column_name FROM information_schema.columns "
                                    "WHERE table_schema = $1 AND table_name = $2",
                                    self.schema_or_public, self.table)
            migration = check_existing_table(self.qualified, comment, [r[0] for r in cols])
            if migration is not None:
                await self._migrate(conn, migration)
            await self._install_rollups(conn)
            return
        async with conn.transaction():
            if self.schema:
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(self.schema)}")
            ddl = self._columns_ddl(constraints=True)
            # The seed's queries read a ``timestamp`` column; generated, so writers never send it.
            ddl += (f', {q(SEED_TIMESTAMP_COLUMN)} timestamptz GENERATED ALWAYS AS '
                    f'(to_timestamp(start_time_ns / 1e9)) STORED')
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified} ({ddl})")
            for suffix, cols in INDEXES:
                index = f"{self.table}_{suffix}_idx"[:63]
                quoted = ", ".join(q(c.strip()) for c in cols.split(","))
                await conn.execute(f"CREATE INDEX IF NOT EXISTS {q(index)} ON {self.qualified} ({quoted})")
            await conn.execute(f"COMMENT ON TABLE {self.qualified} IS '{COMMENT_PREFIX}{SCHEMA_VERSION}'")
        await self._install_rollups(conn)

    async def _migrate(self, conn: Any, migration: Migration) -> None:
        """Add the columns later schema versions added, then record the version (idempotent, so two
        writers starting on the same old table at once both succeed)."""
        async with conn.transaction():
            for col in migration.add:
                await conn.execute(f"ALTER TABLE {self.qualified} ADD COLUMN IF NOT EXISTS {q(col.name)} "
                                   f"{_TYPES[col.kind]}")
            await conn.execute(f"COMMENT ON TABLE {self.qualified} IS '{migration.comment()}'")
        logger.info("llamonitor: postgres backend: %s migrated from schema version %d to %d (added %s)",
                    self.qualified, migration.from_version, SCHEMA_VERSION,
                    ", ".join(c.name for c in migration.add) or "no column")

    async def _install_rollups(self, conn: Any) -> None:
        """Create the summary rollups if missing; without the rights to, warn once and go on without.

        Writing never depends on them: a role that may insert but not create triggers (a table
        created by someone else, a managed database) still stores every event, and the query
        layer then answers from the events.
        """
        if not self.rollups:
            return
        import asyncpg

        try:
            await pg_rollups.install(conn, self.rollup_names, self.qualified)
        except (asyncpg.InsufficientPrivilegeError, asyncpg.InvalidSchemaNameError) as exc:
            self.rollups = False
            logger.warning("llamonitor: postgres backend: no summary rollups for %s (%s: %s); events are "
                           "stored, summaries are computed from them", self.qualified, type(exc).__name__,
                           scrub(str(exc), self.dsn))

    async def _copy_direct(self, conn: Any, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> bool:
        """Binary COPY straight into the table; ``False`` (rolled back) if an event is already there."""
        import asyncpg

        try:
            # One statement, so its own transaction: all rows (and the trigger's rollups) or none.
            await conn.copy_records_to_table(self.table, records=rows, columns=list(names),
                                             schema_name=self.schema_or_public)
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def _copy_staged(self, conn: Any, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """COPY into a temporary staging table, then insert what is not stored yet."""
        cols = ", ".join(q(c) for c in names)
        async with conn.transaction():
            await conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {q(self.stage)} "
                               f"({self._columns_ddl(constraints=False)}) ON COMMIT DELETE ROWS")
            await conn.copy_records_to_table(self.stage, records=rows, columns=list(names))
            await conn.execute(f"INSERT INTO {self.qualified} ({cols}) SELECT {cols} FROM {q(self.stage)} "
                               f"ON CONFLICT (event_id) DO NOTHING")

    async def _copy(self, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Copy ``rows``, split over up to ``copy_streams`` connections when the batch is large.

        Each part commits on its own; if one fails, the others still finish before the error is
        raised, and the writer's retry of the whole batch stores the missing rows once (the
        committed parts go through the staging path and add nothing).
        """
        streams = min(self.copy_streams, len(rows) // MIN_STREAM_ROWS)
        if streams <= 1:
            await self._copy_part(names, rows)
            return
        size = -(-len(rows) // streams)
        parts = (self._copy_part(names, rows[i:i + size]) for i in range(0, len(rows), size))
        outcomes = await asyncio.gather(*parts, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _copy_part(self, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        async with self.pool.acquire() as conn:
            try:
                # Fresh batches (the normal case) go in at raw COPY speed; a re-delivered batch
                # hits the primary key, is rolled back whole, and goes through the staging table.
                if not await self._copy_direct(conn, names, rows):
                    self.redelivered_batches += 1
                    await self._copy_staged(conn, names, rows)
            except asyncio.CancelledError:
                # The writer's write timeout cancelled us mid-statement: the connection's state is
                # unknown and its peer may never answer, so drop it instead of resetting it.
                conn.terminate()
                raise

    async def write_batch(self, events: Sequence[MetricEvent]) -> None:
        if not events:
            return
        await self.ensure_ready()

        names, rows = rows_to_write(events)
        try:
            # NUL, which text and jsonb cannot hold, was made U+FFFD with every other value that no
            # store can hold (schema/sanitize.py), before the batch got here.
            await self._copy(names, rows)
        except Exception as exc:
            raise StorageWriteError(str(self.error("write to", exc)), refused_data=refused_data(exc)) from None
        self.rows_written += len(rows)
        if self.notify and rows:
            await self._notify(notify_payload(names, rows))

    async def _notify(self, payload: str) -> None:
        """Tell listeners the batch landed (after it committed). The rows are stored whatever
        happens here: a failure is counted and logged once, never raised."""
        try:
            async with self.pool.acquire() as conn:
                await conn.execute("SELECT pg_notify($1, $2)", self.channel, payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.notify_failures += 1
            if self.notify_failures == 1:
                logger.warning("llamonitor: postgres backend: NOTIFY after a stored batch failed (%s: %s); live "
                               "views poll instead", type(exc).__name__, scrub(str(exc), self.dsn))

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run a read query with bound ``$n`` parameters (used by the query layer)."""
        await self.ensure_ready()
        async with self.pool.acquire() as conn:
            records = await conn.fetch(sql, *params)
        return [tuple(r) for r in records]

    async def health(self) -> dict[str, Any]:
        return {**await super().health(), "redelivered_batches": self.redelivered_batches,
                "notify_failures": self.notify_failures}

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await pool.close()
        self.ready = False
