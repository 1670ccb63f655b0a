"""Storage throughput and query latency per backend: our writer next to the raw driver.

Run: ``uv run python bench/storage.py`` (``--write-events N`` for the throughput runs,
``--events N`` for the stored dataset the queries run on, ``--backends parquet,postgres``).

Throughput, per backend, in one run (events/s):

- **writer**: our writer's sustained rate. ``--write-events`` records (exactly what the
  ``@monitor_llm`` hot path enqueues for a ``measurement="capacity"`` call) are built before the
  clock, then handed to the writer's recorder (``writer.recorder.put``, the entry point the
  decorator and the adapters' spans use) as fast as it accepts them; timed until ``shutdown`` has
  flushed everything. It covers enrichment (ids, text measures), batching and the backend write,
  not the decorated calls (their own cost is ``bench/overhead.py``'s subject);
- **decorated e2e**: the same number of decorated calls -> recorder -> writer thread -> backend,
  timed from the first call until ``shutdown`` has flushed everything (the calls included);
- **backend**: our backend's ``write_batch`` alone on the writer's events, in 5,000-event batches;
- **raw**: the very same events written by the bare driver in 5,000-row batches, every driver
  starting from the same Python rows (``event_to_row`` tuples, prepared before the clock
  starts): asyncpg ``copy_records_to_table``, aiomysql ``executemany``, clickhouse-connect
  ``insert``, and for Parquet building the Arrow table from those rows (``zip(*rows)``, one
  ``pa.array`` per column, the nested groups as struct columns, the same schema and zstd
  compression as ours) plus ``pq.write_table``. Like the SQL drivers, which encode the Python
  values themselves, the Parquet baseline pays the Python -> Arrow conversion. The raw
  PostgreSQL table has no rollup trigger (ours keeps one by default: its cost is ours).

Writer, raw and backend are each run ``--repeat`` times (3 by default, interleaved) and the best
run is kept, since the machine may be shared. ``writer/raw`` is writer / raw, ``backend/raw``
backend / raw. Every timed section runs with
the inputs prepared before the clock exempted from the cyclic GC (``gc.freeze``, see
:func:`inputs_frozen`): what the code under test allocates is collected as usual.

Queries: ``--events`` synthetic events (1,000,000 by default) are stored per backend in
``--query-backends``, then ``summary()`` and ``aggregates("operation")`` (per-operation
p50/p95/p99) are timed through a fresh query layer: the first call is reported as ``cold``
(for Parquet: files decoded, nothing cached in the process yet; the OS page cache is warm, the
files having just been written), then the median of 3 further calls. PostgreSQL / MariaDB run
on 127.0.0.1 (``.ci/services``); ClickHouse runs in-process on chDB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL_DSN = "mysql://root@127.0.0.1:3306/test"
CH_DSN = "chdb://memory"
RAW_BATCH = 5_000


@contextlib.contextmanager
def inputs_frozen() -> Iterator[None]:
    """Exempt what exists now (the prepared inputs) from the cyclic GC's scans while timing.

    Every timed section starts from inputs built before the clock (100,000 events, records or
    rows kept alive by the bench). Without this, each full collection triggered by the code
    under test would also traverse those inputs -- a cost of the bench's heap, not of the code
    (a real application hands events over one at a time). Objects allocated while timing are
    collected as usual.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


#: extra ``StorageConfig.options`` of the PostgreSQL runs (``--no-pg-rollups`` sets ``rollups: False``)
PG_OPTIONS: dict[str, Any] = {}


def storage_for(backend: str, tmp: Path, name: str) -> Any:
    from llamonitor import StorageConfig

    common: dict[str, Any] = dict(batch_size=2_000, max_batch_size=10_000, flush_interval_seconds=0.2)
    if backend == "parquet":
        return StorageConfig(backend="parquet", output_dir=str(tmp / name), **common)
    if backend == "postgres":
        return StorageConfig(backend="postgres", connection_string=PG_DSN, schema_name=name, table_name="events",
                             pool_size=4, options=dict(PG_OPTIONS), **common)
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
    with inputs_frozen():
        t0 = time.perf_counter()
        for i in range(n):
            call(f"prompt number {i}")
        assert llamonitor.shutdown_sync(300)
        elapsed = time.perf_counter() - t0
    health = writer.health()
    sink = next(iter(health["sinks"].values()))
    assert sink["spilled_events"] == 0 and sink["lost_events"] == 0, sink
    return n / elapsed, captured


def writer_only_run(storage: Any, n: int, tmp: Path) -> float:
    """Events/s of the writer alone: records built before the clock, enqueued as fast as accepted."""
    import llamonitor
    from llamonitor import MonitorConfig, ids, monitor_llm

    @monitor_llm("bench_storage", measurement="capacity")
    def call(x: str) -> str:
        return x

    config = MonitorConfig(storage=storage, max_queue_size=max(200_000, n), spill_dir=str(tmp / "spill_w"))
    writer = llamonitor.initialize_monitoring_sync(config)
    recorder = writer.recorder
    spec = call.__llamonitor_spec__  # type: ignore[attr-defined]
    keeps = recorder.keep_io if spec.keeps_io is None else spec.keeps_io
    now = time.time_ns()
    records = []
    for i in range(n):  # the tuple the decorator enqueues (see llamonitor.transport.records)
        prompt = f"prompt number {i}"
        records.append((spec, None, ids.next_trace(), ids.next_span(), None, None, now + i * 1_000, 2_000,
                        (prompt,) if keeps else None, {} if keeps else None, prompt if keeps else None, None, None))
    put = recorder.put
    with inputs_frozen():
        t0 = time.perf_counter()
        for record in records:
            put(record)
        assert llamonitor.shutdown_sync(300)
        elapsed = time.perf_counter() - t0
    sink = next(iter(writer.health()["sinks"].values()))
    assert sink["spilled_events"] == 0 and sink["lost_events"] == 0, sink
    assert writer.processed == n, (writer.processed, n)
    return n / elapsed


def _parquet_from_rows(rows: list[tuple[Any, ...]]) -> Any:
    """The Arrow table of the Parquet layout from ``event_to_row`` tuples (the raw baseline's way).

    ``zip(*rows)`` transposes the rows, each column is one ``pa.array``; a nested group is a
    struct of its columns, null where the row's ``nested_groups`` bit is clear. Plain pyarrow:
    JSON attributes are stored as a string column, without our extension type.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from llamonitor.schema.arrow import COLUMN_NAMES as PARQUET_NAMES
    from llamonitor.schema.arrow import EVENT_SCHEMA
    from llamonitor.schema.columns import COLUMN_NAMES, COLUMNS, PREFIXES
    from llamonitor.schema.serialize import EVENT_FIELDS, NESTED_FIELDS

    values = dict(zip(COLUMN_NAMES, zip(*rows, strict=True), strict=True))
    by_group = {(c.group, c.field): c.name for c in COLUMNS if c.group is not None}
    mask = pa.array(values["nested_groups"], type=pa.int64())
    fields, arrays = [], []
    for name in EVENT_FIELDS:
        field = EVENT_SCHEMA.field(PARQUET_NAMES[name])
        if name in NESTED_FIELDS:
            children = [pa.array(values[by_group[(name, sub)]], type=field.type.field(sub).type)
                        for sub in NESTED_FIELDS[name]]
            absent = pc.equal(pc.bit_wise_and(mask, 1 << list(PREFIXES).index(name)), 0)
            arrays.append(pa.StructArray.from_arrays(children, fields=list(field.type), mask=absent))
        elif name == "custom_attributes":
            field = field.with_type(pa.string())
            arrays.append(pa.array(values[name], type=pa.string()))
        elif pa.types.is_timestamp(field.type):
            arrays.append(pa.array(values[name], type=pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(values[name], type=field.type))
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


async def raw_run(storage: Any, events: list[Any]) -> float:
    """Events/s of the bare driver writing the same events (rows prepared before timing)."""
    from llamonitor.backends.registry import create_backend
    from llamonitor.schema.columns import COLUMN_NAMES, event_to_row

    chunks = [events[i:i + RAW_BATCH] for i in range(0, len(events), RAW_BATCH)]
    rows = [[event_to_row(e) for e in c] for c in chunks]
    if storage.backend == "parquet":
        import pyarrow.parquet as pq

        out = Path(storage.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        for i, r in enumerate(rows):
            pq.write_table(_parquet_from_rows(r), out / f"raw_{i}.parquet", compression="zstd")
        return len(events) / (time.perf_counter() - t0)
    # the same table layout, created before timing, without llamonitor's extras (PostgreSQL's
    # rollup trigger): the raw driver writes into a bare table
    bare = storage.model_copy(update={"options": {**storage.options, "rollups": False}}) \
        if storage.backend == "postgres" else storage
    backend: Any = create_backend(bare)
    await backend.initialize()
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


def pipeline_ceiling(n: int, tmp: Path) -> tuple[float, float]:
    """Events/s into a sink that does nothing (the pipeline's own cost): (decorated e2e, writer alone)."""
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
        return eps, writer_only_run(storage, n, tmp)
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


async def time_queries(storage: Any) -> tuple[float, float, float, float]:
    """(summary cold, summary warm, per-operation cold, per-operation warm) in ms; warm: median of 3."""
    from llamonitor.query import create_query_backend

    query = create_query_backend(storage)

    async def ms(coro_fn: Any) -> tuple[float, float]:
        t0 = time.perf_counter()
        await coro_fn()  # the first call: file listing, connections, nothing cached yet
        cold = (time.perf_counter() - t0) * 1000
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            await coro_fn()
            runs.append((time.perf_counter() - t0) * 1000)
        return cold, statistics.median(runs)

    try:
        s_cold, s_warm = await ms(query.summary)
        # a fresh query layer for the per-operation call, so its first call is cold too
        await query.close()
        query = create_query_backend(storage)
        o_cold, o_warm = await ms(lambda: query.aggregates("operation"))
        return s_cold, s_warm, o_cold, o_warm
    finally:
        await query.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-events", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="stored events for the query timings")
    parser.add_argument("--backends", default="parquet,postgres,mysql,clickhouse")
    parser.add_argument("--query-backends", default="parquet,postgres")
    parser.add_argument("--repeat", type=int, default=3, help="writer / raw / backend runs (the best is kept)")
    parser.add_argument("--no-pg-rollups", action="store_true",
                        help="PostgreSQL without its summary rollups (writes faster, summaries scan every event)")
    args = parser.parse_args(argv)
    if args.no_pg_rollups:
        PG_OPTIONS["rollups"] = False

    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-bench-storage-"))
    rows: list[tuple[str, ...]] = []
    ceiling = writer_ceiling = 0.0
    try:
        pipeline_ceiling(min(args.write_events, 20_000), tmp / "warm")  # warm-up: imports, first batches
        ceiling, writer_ceiling = pipeline_ceiling(args.write_events, tmp / "null")
        for backend in args.backends.split(","):
            name = f"bench_{uuid.uuid4().hex[:8]}"
            ours = storage_for(backend, tmp, name)
            try:
                e2e_eps, captured = writer_run(ours, args.write_events, tmp / name)
                stored = asyncio.run(count(ours))
            finally:
                asyncio.run(drop(ours))
            runs: dict[str, list[float]] = {"writer": [], "raw": [], "backend": []}
            for k in range(args.repeat):  # interleaved, so a burst of load hits all three alike
                stores = {kind: storage_for(backend, tmp, f"{name}_{kind}{k}") for kind in runs}
                try:
                    runs["writer"].append(writer_only_run(stores["writer"], args.write_events, tmp / f"{name}_w{k}"))
                    with inputs_frozen():  # the captured events (the rows built from them hold no containers)
                        runs["raw"].append(asyncio.run(raw_run(stores["raw"], captured)))
                    with inputs_frozen():
                        runs["backend"].append(asyncio.run(backend_run(stores["backend"], captured)))
                finally:
                    for store in stores.values():
                        asyncio.run(drop(store))
            writer_eps, raw_eps, backend_eps = (max(runs[kind]) for kind in ("writer", "raw", "backend"))
            query_ms: tuple[float, float, float, float] | None = None
            fill_s = None
            if backend in args.query_backends.split(",") and args.events:
                qstore = storage_for(backend, tmp, name + "_q")
                try:
                    fill_s = asyncio.run(fill(qstore, args.events))
                    query_ms = asyncio.run(time_queries(qstore))
                finally:
                    asyncio.run(drop(qstore))
            s_cold, s_warm, o_cold, o_warm = query_ms or (0.0, 0.0, 0.0, 0.0)
            rows.append((backend, f"{writer_eps:,.0f}", f"{e2e_eps:,.0f}", f"{backend_eps:,.0f}", f"{raw_eps:,.0f}",
                         f"{writer_eps / raw_eps:.2f}", f"{backend_eps / raw_eps:.2f}",
                         f"{stored:,}", "-" if fill_s is None else f"{fill_s:.1f}",
                         "-" if query_ms is None else f"{s_warm:.0f} (cold {s_cold:.0f})",
                         "-" if query_ms is None else f"{o_warm:.0f} (cold {o_cold:.0f})"))
            print(f"done: {backend}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"pipeline ceiling, no-op sink: writer {writer_ceiling:,.0f} ev/s; decorated e2e {ceiling:,.0f} ev/s")
    header = ("backend", "writer ev/s", "decorated e2e ev/s", "backend ev/s", "raw ev/s", "writer/raw",
              "backend/raw", "stored", f"load {args.events:,} s", "summary ms", "p95/op ms")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\nwrite: {args.write_events:,} events per backend (writer / backend / raw: best of {args.repeat}); "
          f"queries over {args.events:,} stored events (median of 3 warm calls; cold: the first call of a fresh "
          "query layer)")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
