"""Storage throughput and query latency per backend: our writer next to the raw driver.

Run: ``uv run python bench/storage.py`` (``--write-events N`` for the throughput runs,
``--events N`` for the stored dataset the queries run on, ``--backends parquet,postgres``).

Throughput, per backend, in one run:

- **writer**: ``--write-events`` decorated calls (capacity measurement) -> recorder -> writer
  thread -> backend, timed from the first call until ``shutdown`` has flushed everything;
- **raw**: the very same events (captured from the writer) written by the bare driver in
  5,000-row batches -- asyncpg ``copy_records_to_table``, aiomysql ``executemany``,
  clickhouse-connect ``insert``, pyarrow ``write_table`` -- with the rows / Arrow tables prepared
  before the clock starts (so the raw figure is the driver alone).

Queries: ``--events`` synthetic events (1,000,000 by default) are stored in Parquet and
PostgreSQL, then ``summary()`` and ``aggregates("operation")`` (per-operation p50/p95/p99) are
timed through the query layer (median of 3 after a warm-up). PostgreSQL / MariaDB run on
127.0.0.1 (``.ci/services``); ClickHouse runs in-process on chDB.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL_DSN = "mysql://root@127.0.0.1:3306/test"
CH_DSN = "chdb://memory"
RAW_BATCH = 5_000


def storage_for(backend: str, tmp: Path, name: str) -> Any:
    from llamonitor import StorageConfig

    common: dict[str, Any] = dict(batch_size=2_000, max_batch_size=10_000, flush_interval_seconds=0.2)
    if backend == "parquet":
        return StorageConfig(backend="parquet", output_dir=str(tmp / name), **common)
    if backend == "postgres":
        return StorageConfig(backend="postgres", connection_string=PG_DSN, schema_name=name, table_name="events",
                             pool_size=4, **common)
    if backend == "mysql":
        return StorageConfig(backend="mysql", connection_string=MYSQL_DSN, table_name=name, **common)
    return StorageConfig(backend="clickhouse", connection_string=CH_DSN, schema_name=name, table_name="events",
                         **common)


async def drop(storage: Any) -> None:
    from llamonitor.backends.registry import create_backend

    if storage.backend == "parquet":
        shutil.rmtree(storage.output_dir, ignore_errors=True)
        return
    backend: Any = create_backend(storage)
    await backend.initialize()
    sql = {"postgres": f'DROP SCHEMA IF EXISTS "{storage.schema_name}" CASCADE',
           "mysql": f"DROP TABLE IF EXISTS `test`.`{storage.table_name}`",
           "clickhouse": f"DROP DATABASE IF EXISTS `{storage.schema_name}`"}[storage.backend]
    if storage.backend == "clickhouse":
        backend.client.command(sql)
    else:
        await backend.fetch(sql, ())
    await backend.close()


async def count(storage: Any) -> int:
    from llamonitor.query import create_query_backend

    query = create_query_backend(storage)
    try:
        return (await query.summary()).total_events if storage.backend == "parquet" else int(
            (await query._fetch(f"SELECT COUNT(*) FROM {query.table}", []))[0][0])  # type: ignore[attr-defined]
    finally:
        await query.close()


def writer_run(storage: Any, n: int, tmp: Path) -> tuple[float, list[Any]]:
    """Events/s through decorated calls and the writer; also returns the events it built."""
    import llamonitor
    from llamonitor import MonitorConfig, monitor_llm

    @monitor_llm("bench_storage", measurement="capacity")
    def call(x: str) -> str:
        return x

    captured: list[Any] = []
    config = MonitorConfig(storage=storage, max_queue_size=max(200_000, n), spill_dir=str(tmp / "spill"))
    writer = llamonitor.initialize_monitoring_sync(config)
    writer.add_listener(captured.extend)
    t0 = time.perf_counter()
    for i in range(n):
        call(f"prompt number {i}")
    assert llamonitor.shutdown_sync(300)
    elapsed = time.perf_counter() - t0
    health = writer.health()
    sink = next(iter(health["sinks"].values()))
    assert sink["spilled_events"] == 0 and sink["lost_events"] == 0, sink
    return n / elapsed, captured


async def raw_run(storage: Any, events: list[Any]) -> float:
    """Events/s of the bare driver writing the same events (rows prepared before timing)."""
    from llamonitor.backends.registry import create_backend
    from llamonitor.backends.sql_common import COLUMN_NAMES, event_to_row

    chunks = [events[i:i + RAW_BATCH] for i in range(0, len(events), RAW_BATCH)]
    if storage.backend == "parquet":
        import pyarrow.parquet as pq
        from llamonitor.backends.arrow import events_to_table

        tables = [events_to_table(c) for c in chunks]
        out = Path(storage.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        for i, table in enumerate(tables):
            pq.write_table(table, out / f"raw_{i}.parquet", compression="zstd")
        return len(events) / (time.perf_counter() - t0)
    backend: Any = create_backend(storage)
    await backend.initialize()  # same table layout, created before timing
    rows = [[event_to_row(e) for e in c] for c in chunks]
    try:
        if storage.backend == "postgres":
            import asyncpg

            conn = await asyncpg.connect(PG_DSN)
            t0 = time.perf_counter()
            for r in rows:
                await conn.copy_records_to_table("events", records=r, columns=list(COLUMN_NAMES),
                                                 schema_name=storage.schema_name)
            elapsed = time.perf_counter() - t0
            await conn.close()
        elif storage.backend == "mysql":
            import aiomysql

            conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="", db="test",
                                          autocommit=True, charset="utf8mb4")
            sql = (f"INSERT INTO `{storage.table_name}` ({', '.join(COLUMN_NAMES)}) "
                   f"VALUES ({', '.join(['%s'] * len(COLUMN_NAMES))})")
            t0 = time.perf_counter()
            async with conn.cursor() as cur:
                for r in rows:
                    await cur.executemany(sql, r)
            elapsed = time.perf_counter() - t0
            conn.close()
        else:
            from llamonitor.backends.clickhouse import STORED_COLUMNS

            client = backend.client
            t0 = time.perf_counter()
            for r in rows:
                client.insert("events", r, column_names=list(STORED_COLUMNS), database=storage.schema_name)
            elapsed = time.perf_counter() - t0
    finally:
        await backend.close()
    return len(events) / elapsed


async def backend_run(storage: Any, events: list[Any]) -> float:
    """Events/s of our backend's ``write_batch`` alone (row conversion included), same batches as raw."""
    from llamonitor.backends.registry import create_backend

    backend = create_backend(storage)
    await backend.initialize()
    chunks = [events[i:i + RAW_BATCH] for i in range(0, len(events), RAW_BATCH)]
    t0 = time.perf_counter()
    for chunk in chunks:
        await backend.write_batch(chunk)
    elapsed = time.perf_counter() - t0
    await backend.close()
    return len(events) / elapsed


def pipeline_ceiling(n: int, tmp: Path) -> float:
    """Events/s of decorated calls -> writer -> a sink that does nothing (the pipeline's own cost)."""
    from llamonitor.backends.base import StorageBackend
    from llamonitor.backends.registry import register_backend, unregister_backend

    class NullSink(StorageBackend):
        name = "null"

        async def initialize(self) -> None:
            return None

        async def write_batch(self, events: Any) -> None:
            return None

        async def close(self) -> None:
            return None

    from llamonitor import StorageConfig

    register_backend("null", lambda cfg: NullSink())
    try:
        storage = StorageConfig(backend="null", batch_size=2_000, max_batch_size=10_000, flush_interval_seconds=0.2)
        eps, _ = writer_run(storage, n, tmp)
        return eps
    finally:
        unregister_backend("null")


def synthetic(n: int, start: int = 0) -> list[Any]:
    """Events for the query dataset: 8 operations, 4 models, 5 agents, 2,000 sessions, 30 days."""
    from llamonitor.schema.events import AgentIdentity, CostInfo, MetricEvent, TokenUsage

    ops = [f"op_{i}" for i in range(8)]
    models = ["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet", None]
    agents = [AgentIdentity(framework="bench", agent_name=f"agent_{i}") for i in range(4)] + [None]
    base = 1_767_225_600_000_000_000
    out = []
    for i in range(start, start + n):
        t = base + (i * 2_592_000_000_000_000) // 1_000_000 % 2_592_000_000_000_000
        d = 20.0 + (i * 7919 % 10_000) / 10.0
        out.append(MetricEvent(
            event_id=f"q{i:09d}", session_id=f"s{i % 2000}", trace_id=f"t{i % 40_000}", span_id=f"p{i}",
            operation_name=ops[i % 8], start_time_ns=t, end_time_ns=t + int(d * 1e6), duration_ms=d,
            error=i % 53 == 0, model=models[i % 4], agent=agents[i % 5],
            usage=TokenUsage(input_tokens=100 + i % 900, output_tokens=20 + i % 300),
            cost=CostInfo(total_cost_usd=(i % 1000) * 1e-6) if i % 3 else None))
    return out


async def fill(storage: Any, n: int) -> float:
    from llamonitor.backends.registry import create_backend

    backend = create_backend(storage)
    await backend.initialize()
    t0 = time.perf_counter()
    step = 50_000
    for i in range(0, n, step):
        await backend.write_batch(synthetic(min(step, n - i), i))
    await backend.close()
    if storage.backend == "postgres":
        import asyncpg

        conn = await asyncpg.connect(PG_DSN)
        await conn.execute(f'VACUUM ANALYZE "{storage.schema_name}"."events"')
        await conn.close()
    return time.perf_counter() - t0


async def time_queries(storage: Any) -> tuple[float, float]:
    from llamonitor.query import create_query_backend

    query = create_query_backend(storage)

    async def ms(coro_fn: Any) -> float:
        await coro_fn()  # warm-up (connections, file listing, caches)
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            await coro_fn()
            runs.append((time.perf_counter() - t0) * 1000)
        return statistics.median(runs)

    try:
        return await ms(query.summary), await ms(lambda: query.aggregates("operation"))
    finally:
        await query.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-events", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="stored events for the query timings")
    parser.add_argument("--backends", default="parquet,postgres,mysql,clickhouse")
    parser.add_argument("--query-backends", default="parquet,postgres")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-bench-storage-"))
    rows: list[tuple[str, ...]] = []
    ceiling = 0.0
    try:
        pipeline_ceiling(min(args.write_events, 20_000), tmp / "warm")  # warm-up: imports, first batches
        ceiling = pipeline_ceiling(args.write_events, tmp / "null")
        for backend in args.backends.split(","):
            name = f"bench_{uuid.uuid4().hex[:8]}"
            ours, raw_store = storage_for(backend, tmp, name), storage_for(backend, tmp, name + "_raw")
            try:
                writer_eps, captured = writer_run(ours, args.write_events, tmp / name)
                stored = asyncio.run(count(ours))
                raw_eps = asyncio.run(raw_run(raw_store, captured))
                be_store = storage_for(backend, tmp, name + "_be")
                try:
                    backend_eps = asyncio.run(backend_run(be_store, captured))
                finally:
                    asyncio.run(drop(be_store))
            finally:
                asyncio.run(drop(ours))
                asyncio.run(drop(raw_store))
            summary_ms = op_ms = fill_s = None
            if backend in args.query_backends.split(",") and args.events:
                qstore = storage_for(backend, tmp, name + "_q")
                try:
                    fill_s = asyncio.run(fill(qstore, args.events))
                    summary_ms, op_ms = asyncio.run(time_queries(qstore))
                finally:
                    asyncio.run(drop(qstore))
            rows.append((backend, f"{writer_eps:,.0f}", f"{backend_eps:,.0f}", f"{raw_eps:,.0f}",
                         f"{writer_eps / raw_eps:.2f}", f"{backend_eps / raw_eps:.2f}",
                         f"{stored:,}", "-" if fill_s is None else f"{fill_s:.1f}",
                         "-" if summary_ms is None else f"{summary_ms:.0f}", "-" if op_ms is None else f"{op_ms:.0f}"))
            print(f"done: {backend}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"pipeline ceiling (decorated calls -> writer -> no-op sink): {ceiling:,.0f} ev/s")
    header = ("backend", "writer ev/s", "backend ev/s", "raw ev/s", "writer/raw", "backend/raw", "stored",
              f"load {args.events:,} s", "summary ms", "p95/op ms")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\nwrite: {args.write_events:,} events per backend; queries over {args.events:,} stored events")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
