"""Mixed REST load plus live WebSocket clients against ``llamonitor serve`` in another process.

Run: ``uv run python bench/api_load.py`` (``--events N`` stored first, default 1,000,000;
``--backends parquet,postgres``; ``--rate R`` requests/s offered, default 300; ``--seconds S``,
default 30; ``--ws W`` WebSocket clients, default 50; ``--live E`` events/s written by a writer
in this (the load) process while the load runs, default 1,000). ``--quick`` is a smoke size
(5,000 events, 3 s, 5 clients) that finishes in a few seconds.

The server is a separate process (this script re-run with ``--serve``, uvicorn on a free loopback
port); the load is open-loop (requests are started on schedule, whether or not the previous ones
answered), bounded in count (rate x seconds) and time (seconds + a 30 s drain), loopback only.
Printed per backend: requests answered per second, p50 / p95 / p99 latency, errors, and per
WebSocket client the events received (each live event counts once, a coalesced batch counts its
events) and disconnects.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

#: the mixed workload: route template, weight (session routes are filled in from a sessions page)
ROUTES = (("/api/v1/metrics/summary", 3), ("/api/v1/metrics/operations", 2), ("/api/v1/events?limit=100", 3),
          ("/api/v1/sessions?limit=50", 2), ("/api/v1/sessions/{session}/traces", 2))
DRAIN_SECONDS = 30.0
#: requests in flight at most; an offered request beyond it is counted as shed (the server is behind)
MAX_IN_FLIGHT = 200


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(config_json: str, port: int) -> None:
    """Child mode: serve the API over ``config_json`` storage (no writer in this process)."""
    import uvicorn
    from llamonitor import MonitorConfig, StorageConfig
    from llamonitor.api import create_api_server

    config = MonitorConfig(storage=StorageConfig.model_validate_json(config_json))
    config.extensions["websocket"] = {"enabled": True, "max_connections": 1000}
    uvicorn.run(create_api_server(config), host="127.0.0.1", port=port, log_level="warning")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _live_writer(config: Any, rate: int, seconds: float) -> int:
    """Writes ``rate`` events/s in batches of rate/10 for ``seconds`` (a writer in another process)."""
    from llamonitor.backends.registry import create_backend
    from testkits.storage import make_events

    backend = create_backend(config)
    await backend.initialize()
    written, step, t0 = 0, max(1, rate // 10), time.monotonic()
    try:
        i = 0
        while time.monotonic() - t0 < seconds:
            events = make_events(step, seed=10_000_000 + i, sessions=20, days=1)
            now = time.time_ns()
            for e in events:  # "now", so a poll of the newest time range sees them
                e.start_time_ns, e.end_time_ns = now, now + 1_000_000
            await backend.write_batch(events)
            written += step
            i += 1
            await asyncio.sleep(max(0.0, t0 + i * 0.1 - time.monotonic()))
    finally:
        await backend.close()
    return written


async def _ws_client(url: str, stop: asyncio.Event, counts: list[int], closes: list[int], idx: int) -> None:
    import websockets

    try:
        async with websockets.connect(url, max_size=None) as ws:
            while not stop.is_set():
                try:
                    text = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                msg = json.loads(text)
                counts[idx] += len(msg["data"]) if msg["type"] == "batch" else 1
    except websockets.ConnectionClosed as exc:
        closes[idx] = exc.rcvd.code if exc.rcvd else -1


async def load(base: str, rate: int, seconds: float, ws_clients: int, live: int, config: Any) -> dict[str, Any]:
    """Open-loop mixed REST load plus ``ws_clients`` live clients and a ``live`` events/s writer."""
    import httpx

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=DRAIN_SECONDS, limits=limits) as client:
        page = (await client.get("/api/v1/sessions?limit=50")).json()["sessions"]
        sessions = [s["session_id"] for s in page] or ["none"]
        plan = [route for route, weight in ROUTES for _ in range(weight)]
        stop = asyncio.Event()
        counts, closes = [0] * ws_clients, [0] * ws_clients
        ws_url = base.replace("http", "ws") + "/api/v1/stream"
        clients = [asyncio.create_task(_ws_client(ws_url, stop, counts, closes, i)) for i in range(ws_clients)]
        await asyncio.sleep(1.0)  # connected, and the tail has noted what is stored
        writer = asyncio.create_task(_live_writer(config, live, seconds)) if live else None
        latencies: list[float] = []
        errors: dict[str, int] = {}

        async def one(url: str) -> None:
            t0 = time.perf_counter()
            try:
                resp = await client.get(url)
                if resp.status_code != 200:
                    errors[str(resp.status_code)] = errors.get(str(resp.status_code), 0) + 1
                    return
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            latencies.append((time.perf_counter() - t0) * 1000)

        total = int(rate * seconds)
        tasks: list[asyncio.Task[None]] = []
        shed = 0
        t0 = time.monotonic()
        for n in range(total):  # bounded in count and time; on schedule, whatever the answers
            await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
            if time.monotonic() > t0 + seconds + 1:
                shed += total - n
                break
            if sum(1 for t in tasks[-MAX_IN_FLIGHT * 4:] if not t.done()) >= MAX_IN_FLIGHT:
                shed += 1
                continue
            route = plan[n % len(plan)].format(session=sessions[n % len(sessions)])
            tasks.append(asyncio.create_task(one(route)))
        _done, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)  # bounded in time
        for task in pending:
            task.cancel()
        elapsed = time.monotonic() - t0
        written = await writer if writer else 0
        await asyncio.sleep(2.0)  # the live feed's last events
        stop.set()
        await asyncio.gather(*clients, return_exceptions=True)
    return {"offered": total, "answered": len(latencies), "elapsed": elapsed, "errors": errors,
            "unanswered": len(pending) + shed, "p50": _pct(latencies, 0.5), "p95": _pct(latencies, 0.95),
            "p99": _pct(latencies, 0.99), "written": written, "ws_min": min(counts, default=0),
            "ws_max": max(counts, default=0), "ws_closed": sum(1 for c in closes if c)}


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Store, serve in a child process, load; returns the figures."""
    import httpx
    from api import _store
    from llamonitor import StorageConfig
    from testkits.storage import drop, server_config, unique_name

    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-bench-load-"))
    config = (StorageConfig(backend="parquet", output_dir=str(tmp / "data")) if backend == "parquet"
              else server_config(backend, unique_name()))
    proc = None
    try:
        t0 = time.perf_counter()
        asyncio.run(_store(config, args.events))
        print(f"{backend}: stored {args.events:,} events in {time.perf_counter() - t0:.1f} s", flush=True)
        port = _port()
        proc = subprocess.Popen([sys.executable, __file__, "--serve", config.model_dump_json(), "--port", str(port)],
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/api/v1/metrics/summary", timeout=60).raise_for_status()  # up and warm
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not come up") from None
                time.sleep(0.2)
        r = asyncio.run(load(base, args.rate, args.seconds, args.ws, args.live, config))
        print(f"  offered {r['offered']:,} requests at {args.rate}/s for {args.seconds:g} s; answered "
              f"{r['answered']:,} ({r['answered'] / r['elapsed']:.0f}/s), p50 {r['p50']:.0f} ms, "
              f"p95 {r['p95']:.0f} ms, p99 {r['p99']:.0f} ms, errors {r['errors'] or 0}, "
              f"unanswered {r['unanswered']}")
        print(f"  live: {r['written']:,} events written at {args.live}/s by another process; "
              f"{args.ws} WebSocket clients received {r['ws_min']:,}..{r['ws_max']:,} each, "
              f"{r['ws_closed']} disconnected", flush=True)
        return r
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        if backend != "parquet":
            asyncio.run(drop(config))
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="parquet,postgres")
    parser.add_argument("--rate", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ws", type=int, default=50)
    parser.add_argument("--live", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="smoke size: a few seconds")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.quick:
        args.events, args.seconds, args.ws, args.rate, args.live = 5_000, 3.0, 5, 50, 200
    failed = False
    for backend in args.backends.split(","):
        r = run_backend(backend, args)
        failed |= r["answered"] == 0 or r["ws_min"] == 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
