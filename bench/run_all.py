"""The whole benchmark suite in one run: one table, every figure next to its reference.

Run: ``uv run --group bench python bench/run_all.py [--size tiny|smoke|full]`` (without
``--group bench`` the OpenLLMetry reference is left out). ``--json`` prints the rows as JSON too.

Each row is measured in this process, its reference in the same run:

- decorator overhead (``overhead.py``) vs a bare ``async def`` call and an OpenTelemetry SDK span;
- OpenAI SDK patch overhead (``sdk_overhead.py``) vs the bare SDK call and OpenLLMetry;
- events/s decorator -> each backend (``storage.py``) vs that backend's raw driver;
- peak memory (tracemalloc: every Python allocation, all threads) while the sink is stalled
  for ``--stall-seconds`` under 5,000 events/s offered, vs the same stall with an unbounded queue;
- API latency (``api.py``) over N stored events vs the query layer called in-process;
- integrity (``integrity.py``): events offered / stored / dead-lettered / lost under poison values,
  server refusals, forks, SIGTERM and SIGKILL; lost is 0 everywhere but SIGKILL.

Sizes: ``tiny`` (CI test, < 1 min), ``smoke`` (< 3 min on 2 cores), ``full`` (the issue's
figures: 60 s stall, API over 1,000,000 events; about 15 min).
PostgreSQL / MariaDB on 127.0.0.1 (``.ci/services``); ClickHouse in-process on chDB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(calls=2_000, repeats=3, events=10_000, sdk_calls=50, sdk_rounds=3, sdk_warmup=50,
                 write_events=3_000, backends="parquet,postgres,mysql,clickhouse", stall_s=3.0,
                 api_events=2_000, api_runs=5, integrity_events=500),
    "smoke": dict(calls=10_000, repeats=5, events=50_000, sdk_calls=200, sdk_rounds=5, sdk_warmup=100,
                  write_events=20_000, backends="parquet,postgres,mysql,clickhouse", stall_s=5.0,
                  api_events=20_000, api_runs=10, integrity_events=1_000),
    "full": dict(calls=20_000, repeats=7, events=200_000, sdk_calls=500, sdk_rounds=20, sdk_warmup=300,
                 write_events=100_000, backends="parquet,postgres,mysql,clickhouse", stall_s=60.0,
                 api_events=1_000_000, api_runs=20, integrity_events=10_000),
}
RATE = 5_000  # events/s offered while the sink is stalled

Row = tuple[str, str, str, str]  # (section, figure, value, reference)


def _us(ns: float) -> str:
    return f"{ns / 1000:.2f} µs"


# -- decorator overhead ---------------------------------------------------------------------------
def decorator_rows(p: dict[str, Any]) -> list[Row]:
    import llamonitor
    import overhead
    from llamonitor import MonitorConfig, StorageConfig, monitor_llm

    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-runall-"))
    try:
        bare = overhead.timed(overhead.bare, p["calls"], p["repeats"])
        monitored = monitor_llm("generate_text", measurement="capacity")(overhead.bare)
        cfg = MonitorConfig(storage=StorageConfig(output_dir=str(tmp / "overhead"), batch_size=1000,
                                                  max_batch_size=50_000, flush_interval_seconds=0.5),
                            max_queue_size=1_000_000, spill_dir=str(tmp / "spill"))
        llamonitor.initialize_monitoring_sync(cfg)
        ours = overhead.timed(monitored, p["calls"], p["repeats"])
        llamonitor.shutdown_sync(120)
        traced = overhead.otel_variant()
        otel = overhead.timed(traced, p["calls"], p["repeats"]) if traced else None
        tp = overhead.throughput(tmp / "throughput", p["events"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ref = f"bare call {_us(bare)}"
    if otel is not None:
        ref += f"; OTel span adds {_us(otel - bare)} (ratio {(ours - bare) / (otel - bare):.2f})"
    return [("decorator", "@monitor_llm added per call", _us(ours - bare), ref),
            ("decorator", "decorated calls -> Parquet rows", f"{tp['events_per_s']:,.0f} ev/s",
             f"{tp['rows_on_disk']:,} rows, dropped {tp['dropped']}")]


# -- SDK patch overhead ---------------------------------------------------------------------------
def sdk_rows(p: dict[str, Any]) -> list[Row]:
    import sdk_overhead

    r = sdk_overhead.measure(p["sdk_calls"], p["sdk_rounds"], p["sdk_warmup"])
    med = r["median_ns"]
    bare = med["bare SDK"]
    ours = med["llamonitor-openai"] - bare
    ref = f"bare SDK {_us(bare)}"
    if "OpenLLMetry" in med:
        ref += f"; OpenLLMetry adds {_us(med['OpenLLMetry'] - bare)}"
    else:
        ref += "; OpenLLMetry: not installed (uv run --group bench)"
    return [("sdk patch", "llamonitor-openai added per call", f"{_us(ours)} ({100 * ours / bare:.1f}%)", ref)]


# -- storage throughput ---------------------------------------------------------------------------
def storage_rows(p: dict[str, Any]) -> list[Row]:
    import storage

    rows: list[Row] = []
    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-runall-storage-"))
    try:
        storage.pipeline_ceiling(min(p["write_events"], 5_000), tmp / "warm")
        for backend in p["backends"].split(","):
            name = f"bench_{uuid.uuid4().hex[:8]}"
            ours, raw_store = storage.storage_for(backend, tmp, name), storage.storage_for(backend, tmp, name + "_raw")
            try:
                try:
                    writer_eps, captured = storage.writer_run(ours, p["write_events"], tmp / name)
                    raw_eps = asyncio.run(storage.raw_run(raw_store, captured))
                except Exception as exc:  # a server that is not running: say so in the table
                    rows.append(("storage", f"decorator -> {backend}", "n/a", f"{type(exc).__name__}: {exc}"[:80]))
                    continue
            finally:
                for s in (ours, raw_store):
                    try:
                        asyncio.run(storage.drop(s))
                    except Exception:
                        pass
            rows.append(("storage", f"decorator -> {backend}", f"{writer_eps:,.0f} ev/s",
                         f"raw driver {raw_eps:,.0f} ev/s (ratio {writer_eps / raw_eps:.2f})"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


# -- memory while the sink is stalled -------------------------------------------------------------
def stalled(seconds: float, max_queue_size: int, tmp: Path) -> dict[str, Any]:
    """Offer RATE events/s for ``seconds`` to a writer whose only sink is stuck in its first write."""
    import gc
    import tracemalloc

    import llamonitor
    from llamonitor import MonitorConfig, StorageConfig, monitor_llm
    from llamonitor.backends.registry import register_backend, unregister_backend
    from llamonitor.testing import InMemoryBackend

    release = threading.Event()

    class StalledBackend(InMemoryBackend):
        async def write_batch(self, events: Any) -> None:
            while not release.is_set():  # every write hangs until the stall is over
                await asyncio.sleep(0.01)
            await super().write_batch(events)

    sink = StalledBackend()
    register_backend("stalled", lambda cfg: sink)

    @monitor_llm("stalled_sink", measurement="capacity")
    def call(prompt: str) -> str:
        return prompt

    gc.collect()
    cfg = MonitorConfig(storage=StorageConfig(backend="stalled", batch_size=100, flush_interval_seconds=0.05),
                        max_queue_size=max_queue_size, spill_dir=str(tmp / "spill"), overflow_policy="drop_newest")
    try:
        llamonitor.initialize_monitoring_sync(cfg)
        from sdk_overhead import wait_for_idle_writer

        wait_for_idle_writer()  # the writer imports pyarrow at start-up: not part of the figure
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        offered = 0
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            due = int(elapsed * RATE)
            while offered < due and time.perf_counter() - t0 < seconds:
                call(f"prompt number {offered} " + "x" * 200)
                offered += 1
            time.sleep(0.001)
        health = llamonitor.health()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        release.set()
        llamonitor.shutdown_sync(120)
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        release.set()
        unregister_backend("stalled")
    return {"offered": offered, "peak_bytes": peak, "queued": health["queue_size"],
            "dropped": health["dropped_overflow"], "rate": offered / seconds,
            "written": len(sink.events)}


def memory_rows(p: dict[str, Any]) -> list[Row]:
    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-runall-stall-"))
    try:
        bounded = stalled(p["stall_s"], 10_000, tmp / "bounded")
        unbounded = stalled(p["stall_s"], 10_000_000, tmp / "unbounded")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mb = 1024 * 1024
    return [("memory", f"peak traced memory, sink stalled {p['stall_s']:.0f} s at {RATE:,} ev/s "
                       f"(queue 10,000, drop_newest)",
             f"{bounded['peak_bytes'] / mb:.1f} MB",
             f"unbounded queue {unbounded['peak_bytes'] / mb:.1f} MB ({unbounded['queued']:,} queued); "
             f"bounded: {bounded['offered']:,} offered, {bounded['queued']:,} queued, "
             f"{bounded['dropped']:,} dropped")]


# -- API latency ----------------------------------------------------------------------------------
def api_rows(p: dict[str, Any]) -> list[Row]:
    import api
    from llamonitor import StorageConfig
    from llamonitor.query import create_query_backend
    from testkits.storage import drop, server_config, unique_name

    rows: list[Row] = []
    for backend in ("parquet", "postgres"):
        tmp = Path(tempfile.mkdtemp(prefix="llamonitor-runall-api-"))
        config = (StorageConfig(backend="parquet", output_dir=str(tmp / "data")) if backend == "parquet"
                  else server_config("postgres", unique_name()))
        try:
            asyncio.run(api._store(config, p["api_events"]))
            http = api.bench(config, p["api_runs"])

            async def direct(config: Any = config) -> float:
                query = create_query_backend(config)
                try:
                    await query.summary()
                    times = []
                    for _ in range(p["api_runs"]):
                        t0 = time.perf_counter()
                        await query.summary()
                        times.append((time.perf_counter() - t0) * 1000)
                    return statistics.median(times)
                finally:
                    await query.close()

            ref_ms = asyncio.run(direct())
            label = "Parquet" if backend == "parquet" else "PostgreSQL"
            for route, (p50, p95) in http.items():
                ref = f"query layer summary() in-process {ref_ms:.1f} ms" if route.endswith("summary") else ""
                rows.append(("api", f"GET {route} over {p['api_events']:,} events ({label})",
                             f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", ref))
        finally:
            if backend != "parquet":
                asyncio.run(drop(config))
            shutil.rmtree(tmp, ignore_errors=True)
    return rows


# -- integrity: offered / stored / dead-lettered / lost ---------------------------------------------
def integrity_rows(p: dict[str, Any]) -> list[Row]:
    import integrity

    rows: list[Row] = []
    for scenario, offered, stored, dead, lost, note in integrity.run(p["backends"].split(","), p["integrity_events"]):
        reference = ("lost <= the last flush interval's events (docs/reliability.md)" if scenario.startswith("SIGKILL")
                     else "lost 0 (docs/reliability.md)")
        rows.append(("integrity", scenario, f"{offered:,} offered / {stored:,} stored / {dead:,} dead-lettered / "
                     f"{lost:,} lost", f"{reference}; {note}"))
    return rows


SECTIONS = {"decorator": decorator_rows, "sdk": sdk_rows, "storage": storage_rows, "memory": memory_rows,
            "api": api_rows, "integrity": integrity_rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="smoke")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: " + ",".join(SECTIONS))
    parser.add_argument("--backends", default=None, help="override the storage backends (comma-separated)")
    parser.add_argument("--stall-seconds", type=float, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    p = dict(SIZES[args.size])
    if args.backends:
        p["backends"] = args.backends
    if args.stall_seconds is not None:
        p["stall_s"] = args.stall_seconds

    started = time.perf_counter()
    rows: list[Row] = []
    for name in args.only.split(","):
        t0 = time.perf_counter()
        try:
            rows.extend(SECTIONS[name](p))
        except Exception as exc:
            rows.append((name, "failed", "n/a", f"{type(exc).__name__}: {exc}"[:100]))
        print(f"done: {name} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)

    print(f"\nllamonitor benchmark suite, size {args.size}: Python {platform.python_version()} on "
          f"{platform.platform()}, {os.cpu_count()} CPUs; {time.perf_counter() - started:.0f} s\n")
    header: Row = ("section", "figure", "llamonitor", "reference (same run)")
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(4)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    if args.json:
        print(json.dumps([dict(zip(header, r, strict=True)) for r in rows], indent=2, ensure_ascii=False))
    return 1 if any(r[1] == "failed" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
