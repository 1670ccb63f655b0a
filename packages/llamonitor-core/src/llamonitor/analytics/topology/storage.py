"""PostgreSQL storage of topology snapshots and per-component token figures (asyncpg).

Two tables in ``schema`` (names optionally prefixed): ``topology_snapshots`` (one row per scan:
repository, commit, scan time, the metric totals as columns and the whole topology as JSONB in
``topology``) and ``component_token_consumption`` (tokens, calls and cost per snapshot and
component). The seed spread a snapshot over eight tables; here the modules, functions, imports,
calls and cycles are in the ``topology`` document (query them with ``jsonb_path_query``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from llamonitor.analytics.topology.models import RepositoryTopology
from llamonitor.backends.identifiers import validate_identifier


class PostgresTopologyStorage:
    """Saves and reads topology snapshots through an ``asyncpg`` pool (``await create_topology_tables()`` first)."""

    def __init__(self, pool: Any, schema: str = "public", *, table_prefix: str = "") -> None:
        self.pool = pool
        self.schema = validate_identifier(schema, field="schema")
        if table_prefix:
            validate_identifier(table_prefix, field="table_prefix")
        self.snapshots = f"{self.schema}.{table_prefix}topology_snapshots"
        self.consumption = f"{self.schema}.{table_prefix}component_token_consumption"

    async def create_topology_tables(self) -> None:
        """Create both tables and their indexes if missing."""
        snapshots = self.snapshots.split(".", 1)[1]
        consumption = self.consumption.split(".", 1)[1]
        async with self.pool.acquire() as conn:
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.snapshots} (
                    snapshot_id UUID PRIMARY KEY,
                    repository_path TEXT NOT NULL,
                    commit_hash TEXT,
                    scanned_at TIMESTAMPTZ NOT NULL,
                    total_modules INTEGER NOT NULL,
                    total_functions INTEGER NOT NULL,
                    total_classes INTEGER NOT NULL,
                    total_lines INTEGER NOT NULL,
                    total_dependencies INTEGER NOT NULL,
                    circular_dependencies INTEGER NOT NULL,
                    avg_complexity DOUBLE PRECISION NOT NULL,
                    max_complexity DOUBLE PRECISION NOT NULL,
                    topology JSONB NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
                CREATE INDEX IF NOT EXISTS {snapshots}_repo_scanned
                    ON {self.snapshots} (repository_path, scanned_at DESC);
                CREATE TABLE IF NOT EXISTS {self.consumption} (
                    snapshot_id UUID NOT NULL REFERENCES {self.snapshots} (snapshot_id) ON DELETE CASCADE,
                    component_type TEXT NOT NULL,
                    component_name TEXT NOT NULL,
                    total_tokens BIGINT NOT NULL DEFAULT 0,
                    total_calls BIGINT NOT NULL DEFAULT 0,
                    avg_tokens_per_call DOUBLE PRECISION NOT NULL DEFAULT 0,
                    total_cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
                    first_seen TIMESTAMPTZ,
                    last_seen TIMESTAMPTZ,
                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (snapshot_id, component_type, component_name));
                CREATE INDEX IF NOT EXISTS {consumption}_tokens
                    ON {self.consumption} (snapshot_id, total_tokens DESC);
            """)

    async def save_topology_snapshot(self, topology: RepositoryTopology) -> UUID:
        """Insert (or replace) ``topology`` under its ``topology_id``; returns that id."""
        m = topology.metrics
        async with self.pool.acquire() as conn:
            await conn.execute(f"""
                INSERT INTO {self.snapshots} (snapshot_id, repository_path, commit_hash, scanned_at, total_modules,
                    total_functions, total_classes, total_lines, total_dependencies, circular_dependencies,
                    avg_complexity, max_complexity, topology)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)
                ON CONFLICT (snapshot_id) DO UPDATE SET repository_path = EXCLUDED.repository_path,
                    commit_hash = EXCLUDED.commit_hash, scanned_at = EXCLUDED.scanned_at,
                    total_modules = EXCLUDED.total_modules, total_functions = EXCLUDED.total_functions,
                    total_classes = EXCLUDED.total_classes, total_lines = EXCLUDED.total_lines,
                    total_dependencies = EXCLUDED.total_dependencies,
                    circular_dependencies = EXCLUDED.circular_dependencies,
                    avg_complexity = EXCLUDED.avg_complexity, max_complexity = EXCLUDED.max_complexity,
                    topology = EXCLUDED.topology, updated_at = now()
            """, topology.topology_id, topology.repository_path, topology.commit_hash, topology.scanned_at,
                m.total_modules, m.total_functions, m.total_classes, m.total_lines, m.total_dependencies,
                m.circular_dependencies, m.avg_complexity, m.max_complexity, json.dumps(topology.to_dict()))
        return topology.topology_id

    async def get_latest_snapshot(self, repository_path: str) -> dict[str, Any] | None:
        """The newest snapshot row of ``repository_path`` (``topology`` as a dict), or ``None``."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT * FROM {self.snapshots} WHERE repository_path = $1 ORDER BY scanned_at DESC LIMIT 1",
                repository_path)
        if row is None:
            return None
        out = dict(row)
        if isinstance(out.get("topology"), str):
            out["topology"] = json.loads(out["topology"])
        return out

    async def save_token_consumption(self, snapshot_id: UUID, component_type: str, component_name: str,
                                     total_tokens: int, total_calls: int, avg_tokens_per_call: float,
                                     total_cost_usd: float = 0.0, first_seen: datetime | None = None,
                                     last_seen: datetime | None = None) -> None:
        """Insert or update one component's figures for a snapshot."""
        async with self.pool.acquire() as conn:
            await conn.execute(f"""
                INSERT INTO {self.consumption} (snapshot_id, component_type, component_name, total_tokens,
                    total_calls, avg_tokens_per_call, total_cost_usd, first_seen, last_seen)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (snapshot_id, component_type, component_name) DO UPDATE SET
                    total_tokens = EXCLUDED.total_tokens, total_calls = EXCLUDED.total_calls,
                    avg_tokens_per_call = EXCLUDED.avg_tokens_per_call, total_cost_usd = EXCLUDED.total_cost_usd,
                    first_seen = COALESCE({self.consumption}.first_seen, EXCLUDED.first_seen),
                    last_seen = EXCLUDED.last_seen, updated_at = now()
            """, snapshot_id, component_type, component_name, total_tokens, total_calls, avg_tokens_per_call,
                total_cost_usd, first_seen, last_seen)

    async def get_top_token_consumers(self, snapshot_id: UUID, limit: int = 20) -> list[dict[str, Any]]:
        """Components of a snapshot by tokens, most first."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT * FROM {self.consumption} WHERE snapshot_id = $1 "
                "ORDER BY total_tokens DESC, component_name LIMIT $2", snapshot_id, limit)
        return [dict(r) for r in rows]
