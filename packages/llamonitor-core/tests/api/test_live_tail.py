"""Live feed across processes: ``serve`` tails storage written by a writer in another process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from llamonitor.api import create_api_server
from llamonitor.query import create_query_backend
from llamonitor.query.types import collect_events
from llamonitor.schema.config import MonitorConfig, StorageConfig
from testkits.storage import drop, live_storage, server_config, unique_name

pytestmark = pytest.mark.timeout(90)

WRITER = textwrap.dedent("""
    import sys
    import llamonitor
    from llamonitor import monitor_llm
    from llamonitor.schema.config import MonitorConfig, StorageConfig

    storage = StorageConfig.model_validate_json(sys.argv[1])
    llamonitor.initialize_monitoring_sync(MonitorConfig(storage=storage, spill_dir=sys.argv[4]))

    @monitor_llm(operation_name=sys.argv[3])
    def op(i):
        return i

    for i in range(int(sys.argv[2])):
        op(i)
    llamonitor.shutdown_sync()
""")


def write_elsewhere(storage: StorageConfig, n: int, tag: str, spill: Path) -> float:
    """Run a writer in a subprocess; returns when it exited (monotonic)."""
    subprocess.run([sys.executable, "-c", WRITER, storage.model_dump_json(), str(n), tag, str(spill)],
                   check=True, timeout=60, env={**os.environ, "LLAMONITOR_LOG_LEVEL": "WARNING"})
    return time.monotonic()


MODES = {"parquet": "tailing Parquet", "postgres": "listening postgres", "mysql": "polling mysql"}


@pytest.fixture(params=["parquet", "postgres", "mysql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageConfig]:
    yield from live_storage(request.param, tmp_path)


def receive_events(ws: Any, n: int) -> list[dict[str, Any]]:
    """``n`` events from a live stream (a coalesced ``batch`` message counts its events)."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = ws.receive_json()
        out += msg["data"] if msg["type"] == "batch" else [msg["data"]]
    return out


def wait_primed(client: TestClient) -> Any:
    hub = client.app.state.llamonitor.hub  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while hub.tail.scans < 1:  # the tail has noted what was stored before
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return hub


def test_live_feed_shows_events_of_another_process_once(storage: StorageConfig, tmp_path: Path) -> None:
    with TestClient(create_api_server(MonitorConfig(storage=storage, spill_dir=str(tmp_path / "spill")))) as client:
        hub = wait_primed(client)
        mode = client.get("/api/health").json()["live"]["mode"]
        assert mode == MODES[storage.backend]
        with client.websocket_connect("/api/v1/stream") as ws:
            done = write_elsewhere(storage, 40, "first", tmp_path / "spill1")
            first = receive_events(ws, 40)
            assert time.monotonic() - done <= 2.0, "live events arrived later than 2 s"
            assert {e["operation_name"] for e in first} == {"first"}
            # a second run: anything repeated from the first would arrive before these
            write_elsewhere(storage, 10, "second", tmp_path / "spill2")
            second = receive_events(ws, 10)
            assert {e["operation_name"] for e in second} == {"second"}
        if storage.backend == "postgres":  # told by NOTIFY, not found by a poll
            assert hub.tail._listener.notifications >= 2
        received = [e["event_id"] for e in first + second]
        assert len(set(received)) == 50

    async def stored_ids() -> set[str]:
        backend = create_query_backend(storage)
        try:
            return {e.event_id for e in await collect_events(backend)}
        finally:
            await backend.close()

    assert set(received) == asyncio.run(stored_ids())


def events_now(n: int, seed: int) -> list[Any]:
    """``n`` events starting now (inside the polled time range)."""
    from testkits.storage import make_events

    events = make_events(n, seed=seed, sessions=3, days=1)
    now = time.time_ns()
    for e in events:
        e.start_time_ns, e.end_time_ns = now, now + 1_000
    return events


def test_clickhouse_is_polled_for_events_another_writer_stored(tmp_path: Path) -> None:
    """chDB is embedded (one process per data path), so the other writer is a backend in this process
    that the server's hub is not attached to: what the server sees is only what it polls."""
    from testkits.storage import store

    config = server_config("clickhouse", unique_name())
    try:
        asyncio.run(store(config, []))  # the table exists
        with TestClient(create_api_server(MonitorConfig(storage=config, spill_dir=str(tmp_path / "spill")))) as client:
            hub = wait_primed(client)
            assert client.get("/api/health").json()["live"]["mode"] == "polling clickhouse"
            with client.websocket_connect("/api/v1/stream") as ws:
                events = events_now(30, 31)
                asyncio.run(store(config, events))
                done = time.monotonic()
                got = receive_events(ws, 30)
                assert time.monotonic() - done <= 2.0, "live events arrived later than 2 s"
            assert sorted(e["event_id"] for e in got) == sorted(e.event_id for e in events)
            assert hub.tail.published == 30
    finally:
        asyncio.run(drop(config))


def test_postgres_listen_falls_back_to_polling_when_the_writer_does_not_notify(tmp_path: Path) -> None:
    from llamonitor.api import tail as tail_module
    from testkits.storage import store

    config = server_config("postgres", unique_name(), options={"notify": False})
    old = tail_module.FALLBACK_POLL_SECONDS
    tail_module.FALLBACK_POLL_SECONDS = 1.0
    try:
        asyncio.run(store(config, []))
        with TestClient(create_api_server(MonitorConfig(storage=config, spill_dir=str(tmp_path / "spill")))) as client:
            hub = wait_primed(client)
            assert client.get("/api/health").json()["live"]["mode"] == "listening postgres"
            with client.websocket_connect("/api/v1/stream") as ws:
                events = events_now(12, 32)
                asyncio.run(store(config, events))
                got = receive_events(ws, 12)
            assert sorted(e["event_id"] for e in got) == sorted(e.event_id for e in events)
            assert hub.tail._listener.notifications == 0  # found by the fallback poll
    finally:
        tail_module.FALLBACK_POLL_SECONDS = old
        asyncio.run(drop(config))
