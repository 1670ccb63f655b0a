"""Shared helpers of the storage suite: server DSNs, event generators, a Python reference."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import (
    AgentIdentity,
    CostInfo,
    ImageMetrics,
    MetricEvent,
    TextMetrics,
    TokenUsage,
)

PG_DSN = os.environ.get("LLAMONITOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_DSN = os.environ.get("LLAMONITOR_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")
CH_DSN = "chdb://memory"
BACKENDS = ("parquet", "postgres", "mysql", "clickhouse")
SERVER_BACKENDS = ("postgres", "mysql", "clickhouse")


async def store(config: StorageConfig, events: list[MetricEvent]) -> None:
    """Write ``events`` as one batch through the real storage backend of ``config``."""
    from llamonitor.backends.registry import create_backend

    backend = create_backend(config)
    await backend.initialize()
    try:
        await backend.write_batch(events)
    finally:
        await backend.close()


async def admin_backend(config: StorageConfig) -> Any:
    """A server backend connected for raw SQL (its own pool), without creating or checking the table."""
    from llamonitor.backends.clickhouse import ClickHouseBackend
    from llamonitor.backends.postgres import PostgresBackend
    from llamonitor.backends.registry import create_backend

    backend: Any = create_backend(config)
    if isinstance(backend, ClickHouseBackend):
        backend.client = backend._connect()
    elif isinstance(backend, PostgresBackend):
        import asyncpg

        backend.pool = await asyncpg.create_pool(dsn=backend.pg_dsn, min_size=1, max_size=1)
    else:
        import aiomysql

        backend.pool = await aiomysql.create_pool(host=backend.host, port=backend.port, user=backend.user,
                                                  password=backend.password, autocommit=True)
    backend.ready = True
    return backend


async def execute_sql(backend: Any, sql: str) -> list[Any]:
    """Run one statement on an :func:`admin_backend`; its rows (none for DDL)."""
    from llamonitor.backends.clickhouse import ClickHouseBackend

    if isinstance(backend, ClickHouseBackend):
        return list(backend.client.query(sql).result_rows)
    return list(await backend.fetch(sql, ()))


def unique_name() -> str:
    return f"llm_t_{uuid.uuid4().hex[:12]}"


def server_config(backend: str, name: str, **extra: Any) -> StorageConfig:
    """A config for ``backend`` writing to its own schema (PostgreSQL, ClickHouse) or table (MySQL)."""
    if backend == "postgres":
        return StorageConfig(backend="postgres", connection_string=PG_DSN, table_name="events", schema_name=name,
                             **extra)
    if backend == "mysql":
        return StorageConfig(backend="mysql", connection_string=MYSQL_DSN, table_name=name, **extra)
    return StorageConfig(backend="clickhouse", connection_string=CH_DSN, table_name="events", schema_name=name,
                         **extra)


async def drop(config: StorageConfig) -> None:
    """Remove what a test created."""
    if config.backend == "postgres":
        import asyncpg

        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{config.schema_name}" CASCADE')
        finally:
            await conn.close()
    elif config.backend == "mysql":
        import aiomysql

        conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="", db="test")
        try:
            async with conn.cursor() as cur:
                await cur.execute(f"DROP TABLE IF EXISTS `test`.`{config.table_name}`")
        finally:
            conn.close()
    elif config.backend == "clickhouse":
        import clickhouse_connect

        clickhouse_connect.get_client(dsn=CH_DSN).command(f"DROP DATABASE IF EXISTS `{config.schema_name}`")



BASE_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
OPERATIONS = ("chat", "classify_intent", "summarise ✓", "embed")
MODELS = ("gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-8b", None)
AGENTS = ("planner", "researcher", "writer — ü", None)


def make_events(n: int, *, seed: int = 7, sessions: int = 5, days: int = 3) -> list[MetricEvent]:
    """Varied events: unicode, nulls, absent and empty nested groups, errors, ties in start time."""
    rnd = random.Random(seed)
    events: list[MetricEvent] = []
    for i in range(n):
        start = BASE_NS + rnd.randrange(days * 86_400) * 1_000_000_000 + rnd.randrange(1_000_000_000)
        if i % 10 == 3 and events:
            start = events[-1].start_time_ns  # ties: pagination must still be stable
        duration = round(rnd.uniform(5, 5000), 3) + i * 1e-6
        has_usage = i % 3 != 0
        usage = TokenUsage(input_tokens=rnd.randrange(1, 4000), output_tokens=rnd.randrange(1, 2000),
                           total_tokens=None, cached_input_tokens=rnd.choice([None, 0, 128]),
                           reasoning_tokens=rnd.choice([None, 64]), source="provider") if has_usage else None
        text = TextMetrics(char_count=rnd.randrange(1, 10_000), input_tokens=rnd.randrange(1, 300),
                           output_tokens=rnd.randrange(1, 300), token_reliability="estimated",
                           measurement_mode="hybrid") if i % 4 != 1 else None
        priced = i % 5 != 0
        cost = CostInfo(input_cost_usd=rnd.uniform(0, 0.01), output_cost_usd=rnd.uniform(0, 0.02),
                        price_source="gpt-4o-mini@2025-11-01", estimated=rnd.choice([True, False])) if priced else None
        if cost is not None:
            cost.total_cost_usd = (cost.input_cost_usd or 0) + (cost.output_cost_usd or 0)
        agent_name = AGENTS[i % len(AGENTS)]
        agent = AgentIdentity(framework="crewai", agent_id=f"a-{i % 3}", agent_name=agent_name, agent_role="rôle",
                              graph_step=i % 7, handoff_from=None) if agent_name else None
        error = i % 11 == 0
        events.append(MetricEvent(
            event_id=f"ev-{seed}-{i:06d}", session_id=f"session-{i % sessions}", trace_id=f"trace-{i % 17}",
            span_id=f"span-{i}", parent_span_id=None if i % 2 else f"span-{i - 1}",
            operation_name=OPERATIONS[i % len(OPERATIONS)], start_time_ns=start,
            end_time_ns=start + int(duration * 1_000_000), duration_ms=duration,
            operation_type="llm_call" if i % 6 else "agent_workflow", error=error,
            error_type="RateLimitError" if error else None,
            error_message="429 – too many requests 😢" if error else None,
            model=MODELS[i % len(MODELS)], provider="openai" if i % 2 else None, text_metrics=text,
            response_model=(f"{MODELS[i % len(MODELS)]}-2024-07-18" if MODELS[i % len(MODELS)] and i % 3
                            else None),
            image_metrics=(ImageMetrics(image_count=2, total_pixels=2_073_600, formats="png,jpeg")
                           if i % 9 == 0 else None),
            usage=usage, cost=cost, agent=agent,
            input_content="日本語のプロンプト 🚀" if i % 8 == 0 else None,
            output_content="réponse\nligne 2" if i % 8 == 0 else None,
            system_instructions="Réponds en français. 🚀" if i % 8 == 0 and i % 16 else None,
            custom_attributes={"i": i, "tags": ["α", "β"], "nested": {"ok": True, "none": None}, "f": 0.1 * i},
        ))
    return events


def edge_events() -> list[MetricEvent]:
    """Events at the edges of the schema: every group empty, every group all-null, huge attributes."""
    start = BASE_NS + 123_456_789
    bare = MetricEvent(event_id="edge-bare", session_id="edge", trace_id="t", span_id="s", operation_name="op",
                       start_time_ns=start, end_time_ns=start + 1, duration_ms=0.000001)
    empty_groups = MetricEvent(event_id="edge-empty-groups", session_id="edge", trace_id="t", span_id="s2",
                               operation_name="op", start_time_ns=start, end_time_ns=start + 999, duration_ms=1e-3,
                               text_metrics=TextMetrics(), image_metrics=ImageMetrics(), usage=TokenUsage(),
                               cost=CostInfo(), agent=AgentIdentity())
    big = MetricEvent(event_id="edge-ünïcödé-🚀", session_id="edge ' \" ; DROP TABLE x; --", trace_id="t",
                      span_id="s3", operation_name="op", start_time_ns=start + 5, end_time_ns=start + 10**12,
                      duration_ms=1000.0, error=True, error_message="x" * 100_000,
                      input_content="🚀" * 50_000, output_content="\t\n\r ' \" \\ %s %(x)s {p0:String}",
                      custom_attributes={"big": ["y" * 1000] * 200, "deep": {"a": {"b": {"c": [1, 2.5, None]}}},
                                         "unicode": "中文 العربية עברית", "int": 2**62, "neg": -1.5e-300})
    return [bare, empty_groups, big]


# -- reference computed in Python from the events themselves ---------------------------------------
NONE = "(none)"


def _tin(e: MetricEvent) -> int | None:
    if e.usage is not None and e.usage.input_tokens is not None:
        return e.usage.input_tokens
    return e.text_metrics.input_tokens if e.text_metrics is not None else None


def _tout(e: MetricEvent) -> int | None:
    if e.usage is not None and e.usage.output_tokens is not None:
        return e.usage.output_tokens
    return e.text_metrics.output_tokens if e.text_metrics is not None else None


def _cost(e: MetricEvent, name: str = "total_cost_usd") -> float | None:
    return getattr(e.cost, name) if e.cost is not None else None


def group_key(e: MetricEvent, by: str) -> str:
    if by == "operation":
        return e.operation_name
    if by == "model":
        return e.model or NONE
    if by == "agent":
        return (e.agent.agent_name if e.agent else None) or NONE
    if by == "session":
        return e.session_id
    if by == "day":
        return (date(1970, 1, 1) + timedelta(days=e.start_time_ns // 86_400_000_000_000)).isoformat()
    raise ValueError(by)


def _sum(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return (sum(present), len(present))


def ref_groups(events: list[MetricEvent], by: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[MetricEvent]] = defaultdict(list)
    for e in events:
        groups[group_key(e, by)].append(e)
    out = {}
    for key, members in groups.items():
        durations = np.array([e.duration_ms for e in members])
        cost, priced = _sum([_cost(e) for e in members])
        out[key] = {
            "events": len(members), "errors": sum(e.error for e in members),
            "input_tokens": _sum([_tin(e) for e in members])[0], "output_tokens": _sum([_tout(e) for e in members])[0],
            "cost_usd": cost if priced else None,
            "p50": float(np.percentile(durations, 50)), "p95": float(np.percentile(durations, 95)),
            "p99": float(np.percentile(durations, 99)), "mean": float(durations.mean()), "max": float(durations.max()),
        }
    return out


def ref_costs(events: list[MetricEvent], by: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[MetricEvent]] = defaultdict(list)
    for e in events:
        groups[group_key(e, by)].append(e)
    out = {}
    for key, members in groups.items():
        cin, nin = _sum([_cost(e, "input_cost_usd") for e in members])
        cout, nout = _sum([_cost(e, "output_cost_usd") for e in members])
        total, priced = _sum([_cost(e) for e in members])
        out[key] = {"events": len(members), "priced_events": priced,
                    "input_tokens": _sum([_tin(e) for e in members])[0],
                    "output_tokens": _sum([_tout(e) for e in members])[0],
                    "input_cost_usd": cin if nin else None, "output_cost_usd": cout if nout else None,
                    "total_cost_usd": total if priced else None}
    return out


def ref_sessions(events: list[MetricEvent]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[MetricEvent]] = defaultdict(list)
    for e in events:
        groups[e.session_id].append(e)
    out = {}
    for key, members in groups.items():
        total, priced = _sum([_cost(e) for e in members])
        out[key] = {"events": len(members), "errors": sum(e.error for e in members),
                    "traces": len({e.trace_id for e in members}),
                    "first_ns": min(e.start_time_ns for e in members), "last_ns": max(e.end_time_ns for e in members),
                    "input_tokens": _sum([_tin(e) for e in members])[0],
                    "output_tokens": _sum([_tout(e) for e in members])[0],
                    "total_cost_usd": total if priced else None}
    return out


def ordered(events: list[MetricEvent]) -> list[MetricEvent]:
    """The order every backend returns events in."""
    return sorted(events, key=lambda e: (e.start_time_ns, e.event_id))


def live_storage(backend: str, tmp_path: Path) -> Iterator[StorageConfig]:
    """A destination for live-feed tests, flushed every 50 ms (a fixture body: ``yield from``).

    Shuts down a writer another test left running first; a server destination is dropped after.
    """
    import llamonitor

    if llamonitor.runtime.get_writer() is not None:  # a writer left by another test: not ours
        llamonitor.shutdown_sync()
    if backend == "parquet":
        yield StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"), flush_interval_seconds=0.05)
        return
    config = server_config(backend, unique_name(), flush_interval_seconds=0.05)
    try:
        yield config
    finally:
        asyncio.run(drop(config))
