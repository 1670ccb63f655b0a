"""Per-call overhead of @monitor_llm vs a bare call and an OpenTelemetry SDK span; events/s to Parquet.

Run: ``uv run python bench/overhead.py`` (``--calls N`` to change the sample size; ``--clock thread``
to time the caller's CPU instead of the wall clock, on a shared machine).

All three variants wrap the same trivial ``async def`` and are timed in the same process:
each figure is the median over ``--repeats`` rounds of the mean per-call time of ``--calls``
awaited calls. llamonitor runs in capacity mode with its writer thread draining to Parquet;
OpenTelemetry uses a TracerProvider with a BatchSpanProcessor and a no-op exporter.

Two more rows, when the installed llamonitor has the settings: the decorator inside an
OpenTelemetry span with the bridge on (``otel_context="always"``: joins the span, is the current
OpenTelemetry span inside), against that OpenTelemetry span alone; and head sampling at ratio 0.1.
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
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any


async def bare(x: int) -> int:
    return x


#: ``--clock``: wall time (what a caller waits), or the calling thread's CPU time -- steadier on a
#: shared machine: time spent descheduled and the writer thread's own work are not counted
CLOCKS: dict[str, Callable[[], int]] = {"wall": time.perf_counter_ns, "thread": time.thread_time_ns}


def timed(fn: Callable[[int], Awaitable[int]], calls: int, repeats: int, clock: str = "wall") -> float:
    """Median over rounds of mean ns per awaited call."""
    now = CLOCKS[clock]

    async def round_() -> float:
        t0 = now()
        for i in range(calls):
            await fn(i)
        return (now() - t0) / calls

    async def main() -> list[float]:
        for _ in range(2):  # warm-up
            await round_()
        return [await round_() for _ in range(repeats)]

    return statistics.median(asyncio.run(main()))


def otel_variant(inner: Callable[[int], Awaitable[int]] = bare) -> Callable[[int], Awaitable[int]] | None:
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    except ImportError:
        return None

    class NullExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    tracer = provider.get_tracer("bench")

    async def traced(x: int) -> int:
        with tracer.start_as_current_span("generate_text"):
            return await inner(x)

    return traced


def throughput(out_dir: Path, events: int) -> dict[str, float]:
    """Events/s from decorated calls to Parquet files on disk (flush included)."""
    import llamonitor
    import pyarrow.dataset as ds
    from llamonitor import MonitorConfig, StorageConfig, monitor_llm

    @monitor_llm("throughput", measurement="capacity")
    def call(x: int) -> int:
        return x

    cfg = MonitorConfig(storage=StorageConfig(output_dir=str(out_dir), batch_size=1000,
                                              max_batch_size=10_000, flush_interval_seconds=0.5),
                        max_queue_size=200_000, spill_dir=str(out_dir / "_spill"))
    llamonitor.initialize_monitoring_sync(cfg)
    t0 = time.perf_counter()
    for i in range(events):
        call(i)
    produced = time.perf_counter() - t0
    assert llamonitor.shutdown_sync(120)
    total = time.perf_counter() - t0
    rows = ds.dataset(str(out_dir), format="parquet", exclude_invalid_files=True).count_rows()
    health = llamonitor.health()
    return {"events": events, "rows_on_disk": rows, "produce_s": produced, "total_s": total,
            "events_per_s": rows / total, "dropped": health.get("dropped_overflow", 0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--events", type=int, default=200_000, help="events for the throughput run")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time per call, or the calling thread's CPU time (steadier on a busy machine)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import llamonitor
    from llamonitor import MonitorConfig, StorageConfig, monitor_llm

    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-bench-"))
    try:
        results: dict[str, Any] = {}
        results["bare_ns"] = timed(bare, args.calls, args.repeats, args.clock)

        monitored = monitor_llm("generate_text", measurement="capacity")(bare)
        cfg = MonitorConfig(storage=StorageConfig(output_dir=str(tmp / "overhead"), batch_size=1000,
                                                  max_batch_size=50_000, flush_interval_seconds=0.5),
                            max_queue_size=1_000_000, spill_dir=str(tmp / "spill"))
        llamonitor.initialize_monitoring_sync(cfg)
        results["llamonitor_ns"] = timed(monitored, args.calls, args.repeats, args.clock)
        llamonitor.shutdown_sync(120)

        traced = otel_variant()
        results["otel_ns"] = timed(traced, args.calls, args.repeats, args.clock) if traced else None
        results["bridged_ns"] = results["sampled_ns"] = None
        if "otel_context" in MonitorConfig.model_fields:
            bridged = otel_variant(monitored)
            if bridged is not None and traced is not None:
                llamonitor.initialize_monitoring_sync(cfg.model_copy(update={"otel_context": "always"}))
                results["bridged_ns"] = timed(bridged, args.calls, args.repeats, args.clock)
                llamonitor.shutdown_sync(120)
            from llamonitor import SamplingConfig

            llamonitor.initialize_monitoring_sync(cfg.model_copy(update={"sampling": SamplingConfig(ratio=0.1)}))
            results["sampled_ns"] = timed(monitored, args.calls, args.repeats, args.clock)
            llamonitor.shutdown_sync(120)
        results["throughput"] = throughput(tmp / "throughput", args.events)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ours = results["llamonitor_ns"] - results["bare_ns"]
    otel = (results["otel_ns"] - results["bare_ns"]) if results["otel_ns"] else None
    results["llamonitor_added_us"] = ours / 1000
    results["otel_added_us"] = otel / 1000 if otel is not None else None
    bridged = results["bridged_ns"] - results["otel_ns"] if results["bridged_ns"] is not None else None
    sampled = results["sampled_ns"] - results["bare_ns"] if results["sampled_ns"] is not None else None
    results["clock"] = args.clock
    results["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(),
                          "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    tp = results["throughput"]
    print(f"machine: Python {results['machine']['python']} on {results['machine']['platform']}, "
          f"{results['machine']['cpus']} CPUs; {args.calls} calls x {args.repeats} rounds (median), "
          f"{args.clock} clock")
    print(f"{'variant':<44}{'per call':>12}{'added':>12}")
    print(f"{'bare async function':<44}{results['bare_ns'] / 1000:>10.2f}µs{'':>12}")
    print(f"{'@monitor_llm (capacity, writer -> Parquet)':<44}{results['llamonitor_ns'] / 1000:>10.2f}µs"
          f"{ours / 1000:>10.2f}µs")
    if otel is not None:
        print(f"{'OpenTelemetry SDK span (BatchSpanProcessor)':<44}{results['otel_ns'] / 1000:>10.2f}µs"
              f"{otel / 1000:>10.2f}µs")
        print(f"llamonitor overhead / OpenTelemetry overhead: {ours / otel:.2f} (target <= 0.20)")
    if bridged is not None:
        print(f"{'@monitor_llm in an OTel span, bridged':<44}{results['bridged_ns'] / 1000:>10.2f}µs"
              f"{bridged / 1000:>10.2f}µs  (added to the OTel span alone)")
    if sampled is not None:
        print(f"{'@monitor_llm, head sampling ratio 0.1':<44}{results['sampled_ns'] / 1000:>10.2f}µs"
              f"{sampled / 1000:>10.2f}µs")
    print(f"target: llamonitor added overhead <= 5 µs: {'met' if ours <= 5000 else 'NOT met'}")
    print(f"throughput decorator -> Parquet on disk: {tp['events_per_s']:,.0f} events/s "
          f"({tp['rows_on_disk']:,} rows in {tp['total_s']:.2f}s, dropped {tp['dropped']}; target >= 100,000/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
