"""Writer throughput with the Prometheus, Datadog (DogStatsD) and OTLP exporters on vs off.

Run: ``uv run python bench/exporters.py`` (``--events N``, ``--backend parquet|null``, ``--each`` to
also time each exporter alone, ``--json``).

Each round records ``--events`` decorated calls (capacity mode) from one thread into a queue
large enough to hold them all, then shuts down (drain included) and reports
``events / (time from the first call to the end of the drain)``. Exporters run with their real
transports on loopback: Prometheus serves ``/metrics`` (scraped once at the end), DogStatsD sends
to a UDP socket drained by a child process, OTLP posts to an HTTP receiver in a child process
(so the receivers do not compete for this process's GIL). Sent / dropped counters are printed:
the OTLP exporter's buffer is bounded (``max_pending_requests`` x ``max_spans_per_request``)
and drops, counted, what the collector cannot take in time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _udp_drain(port_q: Any) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    port_q.put(sock.getsockname()[1])
    while True:
        sock.recv(65535)


def _otlp_receiver(port_q: Any) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_q.put(server.server_address[1])
    server.serve_forever()


class _NullSink:
    """A storage sink that only counts (isolates the exporters' cost from storage's)."""

    name = "null"

    def __init__(self) -> None:
        self.count = 0

    async def initialize(self) -> None:
        pass

    async def write_batch(self, events: Sequence[Any]) -> None:
        self.count += len(events)

    async def close(self) -> None:
        pass

    async def health(self) -> dict[str, Any]:
        return {"backend": "null"}


def run_once(tmp: Path, events: int, backend: str, exporters: dict[str, Any] | None) -> dict[str, Any]:
    import httpx
    import llamonitor
    from llamonitor import MonitorConfig, StorageConfig, monitor_llm

    @monitor_llm("bench", model="gpt-4o", measurement="capacity")
    def call(x: int) -> int:
        return x

    out_dir = tmp / f"run-{time.monotonic_ns()}"
    cfg = MonitorConfig(storage=StorageConfig(backend=backend, output_dir=str(out_dir), batch_size=1000,
                                              max_batch_size=10_000, flush_interval_seconds=0.5),
                        max_queue_size=events + 10, spill_dir=str(out_dir / "_spill"), handle_sigterm=False,
                        shutdown_timeout_seconds=300)
    if exporters:
        cfg.extensions.update(exporters)
    writer = llamonitor.initialize_monitoring_sync(cfg)
    t0 = time.perf_counter()
    for i in range(events):
        call(i)
    produced = time.perf_counter() - t0
    assert writer.flush(300)
    written = time.perf_counter() - t0
    stats: dict[str, Any] = {}
    for state in writer.sinks:
        sink = state.sink
        if state.name == "prometheus":
            stats["prometheus_scrape_bytes"] = len(httpx.get(sink.url, timeout=10).content)
    assert llamonitor.shutdown_sync(300)
    total = time.perf_counter() - t0
    for state in writer.sinks:
        if hasattr(state.sink, "exporter_stats"):
            s = state.sink.exporter_stats()
            stats[state.name] = {k: v for k, v in s.items() if k != "last_error" and v}
    return {"produce_s": produced, "written_s": written, "total_s": total,
            "writer_events_per_s": events / written, "processed": writer.processed, "exporters": stats}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=["null", "parquet"], default="parquet")
    parser.add_argument("--each", action="store_true", help="also run each exporter alone")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from llamonitor import DatadogConfig, OTLPConfig, PrometheusConfig
    from llamonitor.backends.registry import register_backend

    register_backend("null", lambda cfg: _NullSink())
    ctx = mp.get_context("spawn")
    q: Any = ctx.Queue()
    procs = [ctx.Process(target=_udp_drain, args=(q,), daemon=True),
             ctx.Process(target=_otlp_receiver, args=(q,), daemon=True)]
    for p in procs:
        p.start()
    udp_port, http_port = q.get(timeout=30), q.get(timeout=30)
    exporters = {
        "prometheus": PrometheusConfig(port=0).model_dump(),
        "datadog": DatadogConfig(use_statsd=True, statsd_host="127.0.0.1", statsd_port=udp_port,
                                 submission_interval=1.0).model_dump(),
        "otlp": OTLPConfig(endpoint=f"http://127.0.0.1:{http_port}/v1/traces").model_dump(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-bench-exporters-"))
    results: dict[str, Any] = {"events": args.events, "backend": args.backend}
    try:
        run_once(tmp, min(args.events, 10_000), args.backend, exporters)  # warm-up (imports, tokenizer-free)
        variants: list[tuple[str, dict[str, Any] | None]] = [("off", None), ("on", exporters)]
        if args.each:
            variants += [(name, {name: settings}) for name, settings in exporters.items()]
        for label, ext in variants:
            runs = [run_once(tmp, args.events, args.backend, ext) for _ in range(args.repeats)]
            results[label] = {"writer_events_per_s": statistics.median(r["writer_events_per_s"] for r in runs),
                              "runs": runs}
    finally:
        for p in procs:
            p.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(results, indent=2, default=str))
        return 0
    off, on = results["off"]["writer_events_per_s"], results["on"]["writer_events_per_s"]
    print(f"machine: Python {results['machine']['python']} on {results['machine']['platform']}, "
          f"{results['machine']['cpus']} CPUs; {args.events:,} events x {args.repeats} rounds (median), "
          f"storage: {args.backend}")
    print(f"writer events/s, exporters off:                 {off:>12,.0f}")
    print(f"writer events/s, Prometheus + Datadog + OTLP:   {on:>12,.0f}  ({on / off:.0%} of off)")
    for name in ("prometheus", "datadog", "otlp"):
        if name in results:
            alone = results[name]["writer_events_per_s"]
            print(f"writer events/s, {name + ' alone:':<31}{alone:>12,.0f}  ({alone / off:.0%} of off)")
    last = results["on"]["runs"][-1]["exporters"]
    for name, stats in last.items():
        print(f"  {name}: {json.dumps(stats, default=str)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
