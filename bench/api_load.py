"""Mixed REST load plus live WebSocket clients against ``llamonitor serve`` in another process.

Run: ``uv run python bench/api_load.py`` (``--events N`` stored first, default 1,000,000;
``--backends parquet,postgres``; ``--rate R`` requests/s offered, default 300; ``--seconds S``,
default 30; ``--ws W`` WebSocket clients, default 50; ``--live E`` events/s written by a writer
process while the load runs, default 1,000). ``--reuse DIR`` keeps the stored events between runs
(for iterating on the server). ``--workers N`` serves from N worker processes (``serve --workers``;
the server CPU figure is then the parent's and every worker's). ``--listing-max-age-ms N``: the
Parquet server shares a listing of the file set up to N ms old (``storage.options``; default 0:
every request sees every file stored before it). ``--quick`` is a smoke size
(5,000 events, 3 s, 5 clients) that finishes in a few seconds.

Four processes, as in a deployment: the server (this script re-run with ``--serve``: uvicorn on a
free loopback port, as ``llamonitor serve`` runs it); the live writer (``--write``: stores
``--live`` events/s through the real backend, which the server tails); the WebSocket listeners
(``--listen``); and this one, the REST load. The load is open-loop (requests are started on
schedule, whether or not the previous ones answered), bounded in count (rate x seconds) and time
(seconds + a 30 s drain), loopback only, over a minimal keep-alive HTTP/1.1 client (an HTTP
library costs the load generator more CPU than the server spends on a cached answer, on the same
two cores). Printed per backend: requests answered per second, p50 / p95 / p99 latency, errors,
the server's CPU time per answered request; per WebSocket client the events received (each live
event counts once, a coalesced batch counts its events), disconnects, and how long after the last
write every client had every event.
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
import uuid
from pathlib import Path
from typing import Any

#: the mixed workload: route template, weight (session routes are filled in from a sessions page)
ROUTES = (("/api/v1/metrics/summary", 3), ("/api/v1/metrics/operations", 2), ("/api/v1/events?limit=100", 3),
          ("/api/v1/sessions?limit=50", 2), ("/api/v1/sessions/{session}/traces", 2))
DRAIN_SECONDS = 30.0
#: requests in flight at most (one connection each); an offered request beyond it is counted as shed
MAX_IN_FLIGHT = 200
#: how long the listeners wait for the last live events after the writer stopped
LIVE_GRACE_SECONDS = 20.0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants (Linux ``/proc``): with
    ``--workers N`` the server is a parent process and N workers."""
    parents: dict[int, int] = {}
    cpu: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree, total = {pid}, 0
    for p in sorted(parents):  # children have larger pids than their parents here (no pid wrap in a run)
        if p in tree or parents[p] in tree:
            tree.add(p)
            total += cpu.get(p, 0)
    return total / os.sysconf("SC_CLK_TCK")


# -- the server ----------------------------------------------------------------------------------
def serve(config_json: str, port: int, workers: int = 1) -> None:
    """Child mode: serve the API over ``config_json`` storage (no writer in this process), as
    ``llamonitor serve --no-ingest --workers N`` does."""
    from llamonitor import MonitorConfig, StorageConfig
    from llamonitor.api import run_api_server

    config = MonitorConfig(storage=StorageConfig.model_validate_json(config_json))
    config.extensions["websocket"] = {"enabled": True, "max_connections": 1000}
    more = {"workers": workers} if workers > 1 else {}  # (so the bench also runs against older trees)
    run_api_server(config, "127.0.0.1", port, log_level="warning", **more)


# -- the live writer -----------------------------------------------------------------------------
async def _write(config_json: str, rate: int, seconds: float) -> int:
    """Child mode: write ``rate`` events/s in batches of rate/10 for ``seconds``; returns the count."""
    from llamonitor import StorageConfig
    from llamonitor.backends.registry import create_backend
    from testkits.storage import make_events

    backend = create_backend(StorageConfig.model_validate_json(config_json))
    await backend.initialize()
    written, step, t0 = 0, max(1, rate // 10), time.monotonic()
    run = time.time_ns() // 1_000_000 * 10_000  # event ids new to the storage in every run (--reuse)
    try:
        i = 0
        while time.monotonic() - t0 < seconds:
            events = make_events(step, seed=run + i, sessions=20, days=1)
            now = time.time_ns()
            for e in events:  # "now", so a poll of the newest time range sees them; random ids, as the writer's
                e.start_time_ns, e.end_time_ns = now, now + 1_000_000
                e.event_id = str(uuid.uuid4())
            await backend.write_batch(events)
            written += step
            i += 1
            await asyncio.sleep(max(0.0, t0 + i * 0.1 - time.monotonic()))
    finally:
        await backend.close()
    return written


# -- the WebSocket listeners ---------------------------------------------------------------------
_BATCH = b'{"type": "batch", "data": ['
_EVENT = b'{"type": "event", "data": {'
_KEY = b'"event_id": '


def count_events(message: bytes) -> int:
    """How many events one live message carries, without parsing it: fifty clients receive about
    70 MB/s of JSON at 1,000 events/s, and parsing it all would cost this (the load's) side more
    CPU than the server spends sending it. The server writes each event's ``event_id`` key once
    (``api/hub.py``); the smoke test checks the counts against the events written."""
    if message.startswith(_EVENT):
        return 1
    if message.startswith(_BATCH):
        return message.count(_KEY)
    raise ValueError(f"not a live message: {message[:60]!r}")


async def _ws_client(url: str, counts: list[int], closes: list[int], idx: int, ready: asyncio.Event,
                     connected: list[int], stop: asyncio.Event) -> None:
    import websockets

    try:
        async with websockets.connect(url, max_size=None, compression=None) as ws:
            connected[0] += 1
            if connected[0] == len(counts):
                ready.set()
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(ws.recv(decode=False), 0.5)
                except TimeoutError:
                    continue
                counts[idx] += count_events(message)
    except websockets.ConnectionClosed as exc:
        closes[idx] = exc.rcvd.code if exc.rcvd else -1


async def _listen(url: str, clients: int) -> dict[str, Any]:
    """Child mode: ``clients`` live clients; prints ``ready`` once all are connected, then reads the
    number of events written from stdin and waits (bounded) until every client has them."""
    counts, closes, connected = [0] * clients, [0] * clients, [0]
    ready, stop = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(_ws_client(url, counts, closes, i, ready, connected, stop)) for i in range(clients)]
    await asyncio.wait_for(ready.wait(), 60)
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)  # the writer's count, once it stopped
    written = int(line or 0)
    t0 = time.monotonic()
    while min(counts) < written and not any(closes) and time.monotonic() - t0 < LIVE_GRACE_SECONDS:
        await asyncio.sleep(0.05)
    lag = time.monotonic() - t0
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    cpu = os.times()
    return {"ws_min": min(counts), "ws_max": max(counts), "ws_closed": sum(1 for c in closes if c), "lag": lag,
            "listen_cpu": cpu.user + cpu.system}


# -- the REST load -------------------------------------------------------------------------------
class _Conn:
    """One keep-alive HTTP/1.1 connection (GET only): what the load needs, at a fraction of a library's cost."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: bytes) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, port: int) -> _Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, f"127.0.0.1:{port}".encode())

    async def get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + self.host + b"\r\n\r\n")
        status = int((await self.reader.readuntil(b"\r\n")).split(b" ", 2)[1])
        length, chunked = 0, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        body = b""
        while (size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
            body += await self.reader.readexactly(size + 2)
        await self.reader.readuntil(b"\r\n")
        return status, body

    def close(self) -> None:
        self.writer.close()


async def load(port: int, rate: int, seconds: float, on_start: Any) -> dict[str, Any]:
    """Open-loop mixed REST load: ``rate`` requests/s for ``seconds``; ``on_start()`` runs when it begins."""
    idle: list[_Conn] = []

    async def get(path: str) -> tuple[int, bytes]:
        reused = bool(idle)
        conn = idle.pop() if idle else await _Conn.open(port)
        try:
            found = await conn.get(path)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            conn.close()
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            # the server closed an idle keep-alive connection (as HTTP allows): once more on a new one
            conn = await _Conn.open(port)
            try:
                found = await conn.get(path)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        idle.append(conn)
        return found

    _, body = await get("/api/v1/sessions?limit=50")
    sessions = [s["session_id"] for s in json.loads(body)["sessions"]] or ["none"]
    plan = [route for route, weight in ROUTES for _ in range(weight)]
    latencies: list[float] = []
    by_route: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    in_flight = [0]

    async def one(url: str, route: str) -> None:
        in_flight[0] += 1
        t0 = time.perf_counter()
        try:
            status, _ = await asyncio.wait_for(get(url), DRAIN_SECONDS)
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
                return
            latencies.append((time.perf_counter() - t0) * 1000)
            by_route.setdefault(route, []).append(latencies[-1])
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        finally:
            in_flight[0] -= 1

    total = int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []
    shed = 0
    on_start()
    t0 = time.monotonic()
    for n in range(total):  # bounded in count and time; on schedule, whatever the answers
        await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
        if time.monotonic() > t0 + seconds + 1:
            shed += total - n
            break
        if in_flight[0] >= MAX_IN_FLIGHT:
            shed += 1
            continue
        route = plan[n % len(plan)]
        tasks.append(asyncio.create_task(one(route.format(session=sessions[n % len(sessions)]), route)))
    _done, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    elapsed = time.monotonic() - t0
    for conn in idle:
        conn.close()
    return {"offered": total, "answered": len(latencies), "elapsed": elapsed, "errors": errors,
            "unanswered": len(pending) + shed, "p50": _pct(latencies, 0.5), "p95": _pct(latencies, 0.95),
            "p99": _pct(latencies, 0.99),
            "routes": {r: (len(v), _pct(v, 0.5), _pct(v, 0.99)) for r, v in sorted(by_route.items())}}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _count(config: Any) -> int:
    """Events stored under ``config`` (0 when nothing is)."""
    from llamonitor.query import create_query_backend

    backend = create_query_backend(config)
    try:
        return (await backend.summary()).total_events
    except Exception:
        return 0
    finally:
        await backend.close()


async def _store(config: Any, n: int) -> None:
    """``n`` of the storage suite's varied events (200 sessions over 30 days, 20,000-event batches,
    as ``bench/api.py`` stores them) with random UUID-shaped ids, as the writer makes them."""
    from llamonitor.backends.registry import create_backend
    from testkits.storage import make_events

    backend = create_backend(config)
    await backend.initialize()
    try:
        for i in range(0, n, 20_000):
            events = make_events(min(20_000, n - i), seed=i + 1, sessions=200, days=30)
            for e in events:
                e.event_id = str(uuid.uuid4())
            await backend.write_batch(events)
    finally:
        await backend.close()


def _child(*args: str, stdin: Any = None, stdout: Any = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdin=stdin, stdout=stdout, text=True)


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Store, serve in a child process, load; returns the figures."""
    import httpx
    from llamonitor import StorageConfig
    from testkits.storage import drop, server_config, unique_name

    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-bench-load-"))
    reuse = args.reuse
    parquet_options = {"listing_max_age_ms": args.listing_max_age_ms} if args.listing_max_age_ms else {}
    if reuse and backend == "parquet":
        config = StorageConfig(backend="parquet", output_dir=str(tmp / "data"), options=parquet_options)
        kept = Path(reuse) / f"parquet-{args.events}-uuid"
    else:
        kept = None
        name = f"llamonitor_bench_load_{args.events}_uuid" if reuse else unique_name()
        config = (StorageConfig(backend="parquet", output_dir=str(tmp / "data"), options=parquet_options)
                  if backend == "parquet"
                  else server_config(backend, name))
    procs: list[subprocess.Popen[str]] = []
    try:
        t0 = time.perf_counter()
        if kept is not None and kept.is_dir():
            shutil.copytree(kept, tmp / "data")
            print(f"{backend}: {args.events:,} stored events copied from {kept}", flush=True)
        elif reuse and backend != "parquet" and asyncio.run(_count(config)) >= args.events:
            print(f"{backend}: reusing {config.schema_name or config.table_name} (stored by an earlier run)",
                  flush=True)
        else:
            asyncio.run(_store(config, args.events))
            print(f"{backend}: stored {args.events:,} events in {time.perf_counter() - t0:.1f} s", flush=True)
            if kept is not None:
                shutil.copytree(tmp / "data", kept)
        port = _port()
        server = _child("--serve", config.model_dump_json(), "--port", str(port), "--workers", str(args.workers))
        procs.append(server)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(base + "/api/v1/metrics/summary", timeout=120).raise_for_status()  # up and warm
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not come up") from None
                time.sleep(0.2)
        listeners = None
        if args.ws:
            listeners = _child("--listen", base.replace("http", "ws") + "/api/v1/stream", "--ws", str(args.ws),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            procs.append(listeners)
            assert listeners.stdout is not None and listeners.stdin is not None
            if listeners.stdout.readline().strip() != "ready":
                raise RuntimeError("the WebSocket listeners did not connect")
        time.sleep(1.0)  # the tail has noted what is stored
        writer: list[subprocess.Popen[str]] = []
        cpu0 = [0.0]

        def start() -> None:
            cpu0[0] = _cpu_seconds(server.pid)
            if args.live:
                writer.append(_child("--write", config.model_dump_json(), "--live", str(args.live), "--seconds",
                                     str(args.seconds), stdout=subprocess.PIPE))
                procs.append(writer[0])

        r = asyncio.run(load(port, args.rate, args.seconds, start))
        cpu = _cpu_seconds(server.pid) - cpu0[0]
        written = 0
        if writer:
            out, _ = writer[0].communicate(timeout=args.seconds + 120)
            written = int(out.strip().splitlines()[-1])
        if listeners is not None:
            assert listeners.stdout is not None and listeners.stdin is not None
            listeners.stdin.write(f"{written}\n")
            listeners.stdin.flush()
            r |= json.loads(listeners.stdout.readline())
        else:
            r |= {"ws_min": 0, "ws_max": 0, "ws_closed": 0, "lag": 0.0, "listen_cpu": 0.0}
        r["written"] = written
        r["cpu"] = cpu
        print(f"  server: {args.workers} worker process(es)")
        print(f"  offered {r['offered']:,} requests at {args.rate}/s for {args.seconds:g} s; answered "
              f"{r['answered']:,} ({r['answered'] / r['elapsed']:.0f}/s), p50 {r['p50']:.0f} ms, "
              f"p95 {r['p95']:.0f} ms, p99 {r['p99']:.0f} ms, errors {r['errors'] or 0}, "
              f"unanswered {r['unanswered']}")
        print("  per route (answered, p50, p99 ms): " + "; ".join(
            f"{route.split('?')[0].removeprefix('/api/v1/')} {n:,} {p50:.0f} {p99:.0f}"
            for route, (n, p50, p99) in r["routes"].items()))
        own = os.times()
        print(f"  server CPU {cpu:.1f} s during the load ({1000 * cpu / max(1, r['answered']):.2f} ms per answered "
              f"request, REST and live feed together); load generator {own.user + own.system:.1f} s, "
              f"WebSocket listeners {r['listen_cpu']:.1f} s; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores")
        print(f"  live: {written:,} events written at {args.live}/s by another process; "
              f"{args.ws} WebSocket clients received {r['ws_min']:,}..{r['ws_max']:,} each, "
              f"{r['ws_closed']} disconnected; every client had every event {r['lag']:.1f} s after the last write",
              flush=True)
        return r
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if backend != "parquet" and not reuse:
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
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (serve --workers)")
    parser.add_argument("--listing-max-age-ms", type=int, default=0, help=(
        "Parquet: share a listing of the file set this old with a request (storage.options listing_max_age_ms)"))
    parser.add_argument("--quick", action="store_true", help="smoke size: a few seconds")
    parser.add_argument("--reuse", metavar="DIR", help=(
        "keep the stored events between runs (iterating on the server): Parquet under DIR, copied per run; "
        "server backends in a schema / table named after --events, not dropped (live events accumulate)"))
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--write", help=argparse.SUPPRESS)
    parser.add_argument("--listen", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workers)
        return
    if args.write:
        print(asyncio.run(_write(args.write, args.live, args.seconds)), flush=True)
        return
    if args.listen:
        print(json.dumps(asyncio.run(_listen(args.listen, args.ws))), flush=True)
        return
    if args.quick:
        args.events, args.seconds, args.ws, args.rate, args.live = 5_000, 3.0, 5, 50, 200
    failed = False
    for backend in args.backends.split(","):
        r = run_backend(backend, args)
        failed |= r["answered"] == 0 or (args.ws > 0 and args.live > 0 and r["ws_min"] == 0)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
