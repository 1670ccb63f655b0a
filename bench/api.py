"""Query API latency over stored events: summary, operations and events?limit=100.

Run: ``uv run python bench/api.py`` (``--events N``, default 100,000; ``--backends parquet,postgres``;
``--runs R`` requests per route). Events (the storage suite's varied synthetic events) are
written through the real backend, ``create_api_server`` is served by uvicorn on a free loopback
port in a thread, and each route is requested ``R`` times over HTTP after a warm-up; p50 / p95
are printed in milliseconds. PostgreSQL runs on 127.0.0.1 (``.ci/services/postgres.sh``); its
schema is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROUTES = ("/api/v1/metrics/summary", "/api/v1/metrics/operations", "/api/v1/events?limit=100")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _store(config: Any, n: int) -> None:
    from llamonitor.backends.registry import create_backend
    from testkits.storage import make_events

    backend = create_backend(config)
    await backend.initialize()
    try:
        for i in range(0, n, 20_000):
            events = make_events(min(20_000, n - i), seed=i + 1, sessions=200, days=30)
            await backend.write_batch(events)
    finally:
        await backend.close()


def bench(config: Any, runs: int) -> dict[str, tuple[float, float]]:
    """p50 / p95 milliseconds per route."""
    import httpx
    import uvicorn
    from llamonitor import MonitorConfig
    from llamonitor.api import create_api_server

    port = _port()
    server = uvicorn.Server(uvicorn.Config(create_api_server(MonitorConfig(storage=config)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    out: dict[str, tuple[float, float]] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for route in ROUTES:
                client.get(route).raise_for_status()  # warm-up
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    client.get(route).raise_for_status()
                    times.append((time.perf_counter() - t0) * 1000)
                times.sort()
                out[route] = (statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))])
    finally:
        server.should_exit = True
        thread.join(30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--backends", default="parquet")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    from llamonitor import StorageConfig
    from testkits.storage import drop, server_config, unique_name

    for backend in args.backends.split(","):
        tmp = Path(tempfile.mkdtemp(prefix="llamonitor-bench-api-"))
        if backend == "parquet":
            config = StorageConfig(backend="parquet", output_dir=str(tmp / "data"))
        else:
            config = server_config(backend, unique_name())
        try:
            t0 = time.perf_counter()
            asyncio.run(_store(config, args.events))
            print(f"{backend}: stored {args.events:,} events in {time.perf_counter() - t0:.1f} s")
            for route, (p50, p95) in bench(config, args.runs).items():
                print(f"  {route:<34} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms")
        finally:
            if backend != "parquet":
                asyncio.run(drop(config))
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
