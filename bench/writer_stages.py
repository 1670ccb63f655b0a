"""What the writer spends per event, stage by stage, for plain and for priced records.

Run: ``uv run python bench/writer_stages.py`` (``--events N``, ``--batch N``).

Records are exactly what the hot path enqueues: *plain* ones (a ``@monitor_llm`` call in capacity
mode: no collector, no capture, no usage) and *priced* ones (an SDK adapter's record carrying
token usage, so the cost collector runs). Each stage is timed over the whole set, in batches of
``--batch``, best of ``--repeat`` runs:

- build: ``EventBuilder.build_batch`` (plain: straight to columns; priced: one ``MetricEvent``
  each, then its row);
- columns -> Arrow: ``columns_to_table`` (the Parquet backend's conversion);
- rollup: the footer rollup of the file (``file_rollup``);
- Parquet write: ``pq.write_table`` (zstd) of that table;
- compact rows: what the SQL backends insert (``EventBatch.compact_rows``).

Each stage is reported twice: its time per event, and the time per event it holds the GIL
(``GIL``), which is what an application thread loses to the writer. The GIL time is measured by
a competing pure-Python thread that counts while the stage runs: the stage held the GIL for the
wall time the counter did not run (its count over its solo rate), best of ``--repeat``. A last
row, ``writer end to end``, runs the real writer (``MonitoringWriter`` with the Parquet
backend) over the whole set: records queued, then one ``flush()``; its GIL time covers the
build thread, the delivering thread and the worker loop together, and its events/s is the
writer's throughput to Parquet files on disk.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def records(n: int, priced: bool) -> list[tuple[Any, ...]]:
    from llamonitor import ids
    from llamonitor.schema.events import TokenUsage
    from llamonitor.transport.records import OperationSpec

    spec = OperationSpec("chat", custom_attributes={"team": "search"}, model="gpt-4o-mini", provider="openai")
    now = time.time_ns()
    out = []
    for i in range(n):
        extra = {"usage": TokenUsage(input_tokens=120 + i % 50, output_tokens=30)} if priced else None
        out.append((spec, None, ids.next_trace(), ids.next_span(), None, None, now + i * 1_000, 2_000_000,
                    None, None, None, None, extra))
    return out


def _schedstat() -> tuple[float, float]:
    """This thread's (seconds on a CPU, seconds runnable but waiting for one), from Linux's schedstat."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            on_cpu, waiting, _ = f.read().split()
        return int(on_cpu) / 1e9, int(waiting) / 1e9
    except OSError:  # not Linux: CPU time only
        return time.thread_time(), 0.0


class GilMeter:
    """A pure-Python thread spinning while a stage runs: the wall time it did not run is the stage's GIL.

    The counter takes the GIL whenever the stage lets it (a C call that releases it, the
    interpreter's switch interval), as an application thread would. Over the stage's wall time,
    the counter is either asleep waiting for the GIL (the stage holds it), or runnable: on a CPU,
    or left waiting for one by the OS while other processes run (Linux schedstat counts both).
    The stage's GIL time is the wall time less the runnable time. Best of several runs.
    """

    def __init__(self) -> None:
        self._go = threading.Event()
        self._done = threading.Event()
        self._quit = False
        self.cpu = 0.0
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        go = self._go
        while True:
            go.wait()
            if self._quit:
                return
            cpu0, wait0 = _schedstat()
            while go.is_set():
                pass
            cpu1, wait1 = _schedstat()
            # On a CPU, or runnable and left waiting for one by the OS (other processes ran): the
            # GIL was not the stage's then. While the stage holds the GIL the counter sleeps on it.
            self.cpu = (cpu1 - cpu0) + (wait1 - wait0)
            self._done.set()

    def held(self, fn: Any) -> tuple[float, Any]:
        """``(seconds the call kept the counting thread off the GIL, its result)``."""
        self._done.clear()
        self._go.set()
        t0 = time.perf_counter()
        try:
            out = fn()
        finally:
            wall = time.perf_counter() - t0
            self._go.clear()
            self._done.wait()
        return max(0.0, wall - self.cpu), out

    def close(self) -> None:
        self._quit = True
        self._go.set()
        self._thread.join()


def stages(recs: list[tuple[Any, ...]], batch: int, repeat: int, meter: GilMeter | None) -> dict[str, float]:
    import pyarrow.parquet as pq
    from llamonitor.backends.parquet_rollups import file_rollup
    from llamonitor.schema.arrow import warm_up
    from llamonitor.schema.columnar import columns_to_table
    from llamonitor.schema.config import MonitorConfig, StorageConfig
    from llamonitor.transport.enrich import EventBuilder

    warm_up()
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir="unused"))
    chunks = [recs[i:i + batch] for i in range(0, len(recs), batch)]
    best: dict[str, float] = {}
    folder = Path(tempfile.mkdtemp(prefix="llamonitor-bench-stages-"))

    def timed(name: str, fn: Any, items: list[Any]) -> list[Any]:
        gc.collect()
        t0 = time.perf_counter()
        out = [fn(item) for item in items]
        per_event = (time.perf_counter() - t0) / len(recs) * 1e6
        best[name] = min(best.get(name, per_event), per_event)
        if meter is not None:  # the same again, against the counting thread
            gc.collect()
            held, _ = meter.held(lambda: [fn(item) for item in items])
            gil = held / len(recs) * 1e6
            best[name + " GIL"] = min(best.get(name + " GIL", gil), gil)
        return out

    def compact(b: Any) -> Any:
        b._compact = None  # cached by the batch: made again for each timing
        return b.compact_rows()

    for _ in range(repeat):
        builder = EventBuilder(config)
        batches = timed("build", builder.build_batch, chunks)
        tables = timed("columns -> Arrow", lambda b: columns_to_table(b.columns, len(b)), batches)
        timed("rollup", file_rollup, tables)
        targets = [(t, folder / f"{i}.parquet") for i, t in enumerate(tables)]
        timed("Parquet write", lambda item: pq.write_table(item[0], item[1], compression="zstd"), targets)
        timed("compact rows", compact, batches)
        del batches, tables, targets
    try:
        end_to_end(recs, batch, repeat, meter, best, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # a million rows per run: never left behind
    return best


def end_to_end(recs: list[tuple[Any, ...]], batch: int, repeat: int, meter: GilMeter | None,
               best: dict[str, float], folder: Path) -> None:
    """The real writer over ``recs``: queued first, then one ``flush()`` writes them to Parquet."""
    import pyarrow.dataset as ds
    from llamonitor.backends.parquet import ParquetBackend
    from llamonitor.schema.config import MonitorConfig, StorageConfig
    from llamonitor.transport.worker import MonitoringWriter

    for r in range(repeat):
        out = folder / f"e2e-{r}"
        storage = StorageConfig(backend="parquet", output_dir=str(out), batch_size=batch,
                                max_batch_size=batch, flush_interval_seconds=3600)
        config = MonitorConfig(storage=storage, max_queue_size=len(recs) + 1, spill_dir=str(folder / "spill"))
        writer = MonitoringWriter(config, [ParquetBackend(storage)])
        writer.start()
        with writer._lock:  # the worker waits here once woken: nothing is written before the clock starts
            for rec in recs:
                writer.recorder.put(rec)  # type: ignore[arg-type]
            gc.collect()
            t0 = time.perf_counter()
        if meter is None:
            assert writer.flush(600)
            held = 0.0
        else:
            held, done = meter.held(lambda w=writer: w.flush(600))
            assert done
        wall = time.perf_counter() - t0
        writer.shutdown(60)
        rows = ds.dataset(str(out), format="parquet").count_rows()
        assert rows == len(recs), rows
        for name, value in (("writer end to end", wall / len(recs) * 1e6),
                            ("writer end to end GIL", held / len(recs) * 1e6)):
            best[name] = min(best.get(name, value), value)
        best["events/s to Parquet"] = max(best.get("events/s to Parquet", 0.0), len(recs) / wall)


_BURST = """
import gc, json, os, sys, tempfile, time
import llamonitor, pyarrow as pa
from llamonitor import MonitorConfig, monitor_llm
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
out = tempfile.mkdtemp(prefix="llamonitor-bench-burst-")
llamonitor.initialize_monitoring_sync(MonitorConfig.for_local_dev(out).model_copy(update={"spill_dir": out + "/spill"}))
@monitor_llm("burst", measurement="capacity")
def f(x):
    return x
for i in range(1000):
    f(i)
llamonitor.flush_sync(60); gc.collect(); time.sleep(0.2)
before, blocks, found = rss(), sys.getallocatedblocks(), []
for _ in range(ROUNDS):
    for i in range(CALLS):
        f(i)
    llamonitor.flush_sync(120); gc.collect(); time.sleep(0.2)
    found.append(rss() - before)
print(json.dumps({"before": before, "after": found, "blocks": sys.getallocatedblocks() - blocks,
                  "arrow_bytes": pa.total_allocated_bytes()}))
llamonitor.shutdown_sync(60)
import shutil; shutil.rmtree(out, ignore_errors=True)
"""


def burst_rss(calls: int, rounds: int) -> dict[str, Any]:
    """RSS of a fresh interpreter after bursts of ``calls`` decorated calls, each flushed (for_local_dev)."""
    import json
    import subprocess
    import sys

    code = _BURST.replace("ROUNDS", str(rounds)).replace("CALLS", str(calls))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=True)
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kinds", default="plain,priced", help="which records: plain, priced or both")
    parser.add_argument("--burst", type=int, default=100_000, help="calls per burst of the RSS figure (0: skip)")
    parser.add_argument("--no-gil", action="store_true", help="skip the GIL measurement (the counting thread)")
    args = parser.parse_args(argv)
    meter = None if args.no_gil else GilMeter()
    try:
        kinds = [k for k in ("plain", "priced") if k in args.kinds.split(",")]
        results = {kind: stages(records(args.events, kind == "priced"), args.batch, args.repeat, meter)
                   for kind in kinds}
    finally:
        if meter is not None:
            meter.close()
    names = [n for n in results[kinds[0]] if not n.endswith(" GIL") and n != "events/s to Parquet"]
    print(f"µs per event, {args.events:,} records in batches of {args.batch:,} (best of {args.repeat}); "
          "GIL: µs per event the stage keeps a competing Python thread from running")
    print(f"{'stage':<22}" + "".join(f"{kind:>10}{'GIL':>8}" for kind in kinds))
    for name in names:
        cells = []
        for kind in kinds:
            gil = results[kind].get(name + " GIL")
            shown = f"{gil:>8.2f}" if gil is not None and meter else f"{'-':>8}"
            cells.append(f"{results[kind][name]:>10.2f}{shown}")
        print(f"{name:<22}{''.join(cells)}")
    label = "events/s to Parquet" + (" (counter competing)" if meter else "")
    print(f"{label:<22}"
          + "".join(f"{results[kind]['events/s to Parquet']:>10,.0f}{'':>8}" for kind in kinds))
    if args.burst:
        mem = burst_rss(args.burst, 3)
        print(f"RSS after bursts of {args.burst:,} decorated calls, each flushed (for_local_dev, fresh interpreter at "
              f"{mem['before']:.0f} MB): " + ", ".join(f"+{d:.1f} MB" for d in mem["after"])
              + f"; Python blocks +{mem['blocks']:,}, Arrow pool {mem['arrow_bytes'] / 2**20:.1f} MB allocated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
