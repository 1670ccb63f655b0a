"""``llamonitor serve --workers 2``: two worker processes on one port, each answering requests with
its own caches, its own storage tail and its own live feed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from llamonitor.schema.config import StorageConfig

pytestmark = pytest.mark.timeout(120)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "llamonitor.cli.main", *args]


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as resp:  # a new connection each time: any worker
        return json.loads(resp.read())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _write(storage: StorageConfig, n: int) -> None:
    from llamonitor.backends.registry import create_backend
    from testkits.storage import make_events

    events = make_events(n, seed=7, sessions=3, days=1)
    now = time.time_ns()
    for e in events:  # "now": inside the time range the tail looks at
        e.start_time_ns, e.end_time_ns = now, now + 1_000
    backend = create_backend(storage)
    await backend.initialize()
    try:
        await backend.write_batch(events)
    finally:
        await backend.close()


def _by_worker(base: str, deadline: float) -> dict[int, dict[str, Any]]:
    """Each worker's ``/api/health`` (new connections until both answered)."""
    seen: dict[int, dict[str, Any]] = {}
    while len(seen) < 2 and time.monotonic() < deadline:
        health = _json(f"{base}/api/health")
        assert health["status"] == "ok" and health["live"]["mode"] == "tailing Parquet", health
        seen[health["worker"]] = health
    assert len(seen) == 2, seen
    return seen


async def _listen(base: str, clients: int, n: int, storage: StorageConfig) -> tuple[list[set[str]], dict[int, Any]]:
    """``clients`` WebSocket clients (spread by the kernel over the workers); once all are connected,
    ``n`` events are stored by this process (the workers only tail the folder). Returns the event
    ids each client received and each worker's health, taken while the clients are connected."""
    import websockets

    url = base.replace("http", "ws") + "/api/v1/stream"
    conns = [await websockets.connect(url, max_size=None) for _ in range(clients)]
    try:
        deadline = time.monotonic() + 60
        workers = await asyncio.to_thread(_by_worker, base, deadline)
        # sixteen clients: all on one worker would be a 1 in 30,000 chance
        assert all(h["live"]["clients"] >= 1 for h in workers.values()), workers
        await asyncio.sleep(1.0)  # every worker's tail has noted what was stored before
        await _write(storage, n)
        got: list[set[str]] = []
        for ws in conns:
            ids: set[str] = set()
            while len(ids) < n:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                ids |= {e["event_id"] for e in (msg["data"] if msg["type"] == "batch" else [msg["data"]])}
            got.append(ids)
        return got, await asyncio.to_thread(_by_worker, base, deadline + 30)
    finally:
        for ws in conns:
            await ws.close()


def test_two_workers_answer_and_each_feeds_its_live_clients(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    storage = StorageConfig(backend="parquet", output_dir=str(data))
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(_cli("serve", "--dir", str(data), "--port", str(port), "--workers", "2",
                                     "--no-ingest"), stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "http://" not in log_path.read_text():
                time.sleep(0.2)
            # both workers answer (the kernel gives each new connection to one of them)
            workers = _by_worker(base, deadline)
            assert proc.pid not in workers  # answers come from the workers, not the supervisor
            assert _json(f"{base}/api/v1/metrics/summary")["total_events"] == 0

            got, after = asyncio.run(_listen(base, 16, 40, storage))
            assert all(len(ids) == 40 for ids in got)
            assert len(set().union(*got)) == 40  # the same 40 events, to every client of either worker
            # each worker tailed the new file itself
            assert set(after) == set(workers)
            assert {pid: h["live"]["tail_published"] for pid, h in after.items()} == {pid: 40 for pid in workers}
            # and the workers' queries see it (ten new connections: both workers, but for a 1 in 500 chance)
            assert {_json(f"{base}/api/v1/metrics/summary")["total_events"] for _ in range(10)} == {40}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert proc.returncode == 0, log_path.read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "--workers"),
    (["--workers", "two"], "--workers"),
    (["--workers", "65"], "--workers"),
])
def test_bad_worker_counts_are_refused_clearly(tmp_path: Path, args: list[str], message: str) -> None:
    run = subprocess.run(_cli("serve", "--dir", str(tmp_path), *args), capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert "http://" not in run.stdout
