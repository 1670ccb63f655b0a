"""Per-call overhead of the OpenAI SDK patch: bare SDK vs llamonitor-openai vs OpenLLMetry.

Run: ``uv run --group bench python bench/sdk_overhead.py`` (``--calls N --rounds R``).

Every variant calls ``client.chat.completions.create(...)`` on the real ``openai`` SDK whose
HTTP client is an in-process ``httpx.MockTransport`` returning a fixed chat completion, so the
figures are the SDK's own cost plus the instrumentation's, with no network. Rounds interleave
the variants (bare, llamonitor, OpenLLMetry, ...), instrumenting and uninstrumenting around
each, so drift in machine load hits all of them alike. Each call is timed on its own; the
table shows the median over all calls of a variant, and the median CPU time of the calling
thread per call (what the instrumentation costs on the caller's thread, without the writer thread's share).
Background work (llamonitor's writer thread building and writing events, OpenTelemetry's batch
processor) competes for the GIL and shows up in the wall-clock figures.

- bare: no instrumentation;
- llamonitor: ``instrument_openai()`` with monitoring initialised to Parquet in a temp dir
  (its writer thread running, as in production);
- OpenLLMetry: ``opentelemetry-instrumentation-openai``'s ``OpenAIInstrumentor`` with a
  ``TracerProvider`` + ``BatchSpanProcessor`` and a no-op exporter (its defaults otherwise).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx

BODY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there!", "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
              "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
}).encode()
MESSAGES: list[Any] = [{"role": "user", "content": "Say hello"}]


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=BODY, headers={"content-type": "application/json"})


def make_client() -> Any:
    import openai

    return openai.OpenAI(api_key="test", base_url="http://bench.invalid/v1", max_retries=0,
                         # openai 3.x is typed for httpx2 and accepts an httpx client at run time
                         http_client=httpx.Client(transport=httpx.MockTransport(handler)))  # type: ignore[arg-type]


def run(client: Any, calls: int, cpu: list[int] | None = None) -> list[int]:
    """Wall-clock ns of each call; appends the caller thread's CPU ns of each call to ``cpu``."""
    create = client.chat.completions.create
    samples = []
    clock, thread_clock = time.perf_counter_ns, time.thread_time_ns
    for _ in range(calls):
        c0 = thread_clock()
        t0 = clock()
        create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)
        samples.append(clock() - t0)
        if cpu is not None:
            cpu.append(thread_clock() - c0)
    return samples


def wait_for_idle_writer(limit: float = 20.0) -> None:
    """The writer thread imports pyarrow & co. at start-up; let it finish before timing."""
    import os
    import threading

    ids = [t.native_id for t in threading.enumerate() if t.name == "llamonitor-writer"]
    if not ids or not os.path.exists(f"/proc/self/task/{ids[0]}/stat"):
        time.sleep(3)
        return

    def ticks() -> int:
        with open(f"/proc/self/task/{ids[0]}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = ticks()
        time.sleep(0.3)
        if ticks() - before <= 1:
            return


class Variant:
    def __init__(self, name: str, setup: Callable[[], object], teardown: Callable[[], object]) -> None:
        self.name, self.setup, self.teardown = name, setup, teardown
        self.samples: list[int] = []
        self.cpu: list[int] = []


def measure(calls: int = 500, rounds: int = 20, warmup: int = 300, batch_size: int | None = None) -> dict[str, Any]:
    """Run the interleaved rounds; returns per-variant wall and caller-thread CPU medians (ns)."""
    import llamonitor
    from llamonitor import MonitorConfig, StorageConfig
    from llamonitor_openai import instrument_openai, uninstrument_openai

    tmp = tempfile.TemporaryDirectory(prefix="llamonitor-bench-")
    storage: dict[str, Any] = {"backend": "parquet", "output_dir": f"{tmp.name}/data"}
    if batch_size:
        storage["batch_size"] = batch_size
    llamonitor.initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(**storage),
                                                        spill_dir=f"{tmp.name}/spill"))
    wait_for_idle_writer()

    variants = [Variant("bare SDK", lambda: None, lambda: None),
                Variant("llamonitor-openai", instrument_openai, uninstrument_openai)]
    try:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        class NoopExporter(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
        otel = OpenAIInstrumentor()
        variants.append(Variant("OpenLLMetry", lambda: otel.instrument(tracer_provider=provider), otel.uninstrument))
        otel_version = md.version("opentelemetry-instrumentation-openai")
    except ImportError:
        print("opentelemetry-instrumentation-openai not installed: run with `uv run --group bench ...`",
              file=sys.stderr)
        otel_version = None

    client = make_client()
    for v in variants:  # warm up each code path (imports, caches, pydantic models)
        v.setup()
        run(client, warmup)
        v.teardown()
    for _ in range(rounds):
        for v in variants:
            v.setup()
            v.samples.extend(run(client, calls, v.cpu))
            v.teardown()
    llamonitor.flush_sync(60)
    events = llamonitor.health().get("processed", "?")
    llamonitor.shutdown_sync(60)
    tmp.cleanup()
    return {"otel_version": otel_version, "events": events, "batch_size": storage.get("batch_size", "default"),
            "median_ns": {v.name: statistics.median(v.samples) for v in variants},
            "cpu_ns": {v.name: statistics.median(v.cpu) for v in variants}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="StorageConfig.batch_size for llamonitor (default: the config default)")
    args = parser.parse_args(argv)

    result = measure(args.calls, args.rounds, args.warmup, args.batch_size)
    medians, cpus = result["median_ns"], result["cpu_ns"]
    bare = medians["bare SDK"]
    print(f"openai {md.version('openai')}, llamonitor-openai {md.version('llamonitor-openai')}, "
          f"OpenLLMetry {result['otel_version']}, Python {platform.python_version()}, {platform.machine()}")
    print(f"{args.rounds} rounds x {args.calls} calls per variant (median of every call); "
          f"llamonitor batch_size {result['batch_size']}, events processed: {result['events']}\n")
    print(f"{'variant':<20} {'median µs/call':>15} {'added µs':>10} {'added %':>9} {'caller-thread CPU µs':>21}")
    added: dict[str, float] = {}
    bare_cpu = cpus["bare SDK"]
    for name, med in medians.items():
        added[name] = med - bare
        cpu = cpus[name]
        print(f"{name:<20} {med / 1000:>15.1f} {(med - bare) / 1000:>10.2f} {100 * (med - bare) / bare:>8.2f}% "
              f"{cpu / 1000:>12.1f} (+{(cpu - bare_cpu) / 1000:.1f})")
    ours = added["llamonitor-openai"]
    print(f"\nllamonitor added overhead: {100 * ours / bare:.2f}% of the bare call (target <= 3%)")
    if "OpenLLMetry" in added and added["OpenLLMetry"] > 0:
        print(f"llamonitor / OpenLLMetry added overhead: {ours / added['OpenLLMetry']:.2f} (target < 0.5)")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
