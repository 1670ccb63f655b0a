"""The summary cache (keyed by storage generation) never serves a stale answer, and does serve
repeated questions while nothing is written.

Write, ask, write more from another writer, ask again: the second answers count the new events.
Every backend, real servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from llamonitor.api import create_api_server
from llamonitor.query.cache import CachedQueryBackend
from llamonitor.schema.config import MonitorConfig, StorageConfig
from testkits.storage import drop, make_events, server_config, store, unique_name

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["parquet", "postgres", "mysql", "clickhouse"])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageConfig]:
    if request.param == "parquet":
        yield StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"))
        return
    config = server_config(request.param, unique_name())
    try:
        yield config
    finally:
        asyncio.run(drop(config))


def _totals(client: TestClient) -> dict[str, Any]:
    summary = client.get("/api/v1/metrics/summary").json()
    operations = client.get("/api/v1/metrics/operations").json()
    sessions = client.get("/api/v1/sessions?limit=1000").json()
    series = client.get("/api/v1/metrics/timeseries?buckets=4").json()
    return {"events": summary["total_events"], "sessions": summary["sessions"],
            "by_operation": sum(g["events"] for g in operations["operations"]),
            "listed": sum(s["events"] for s in sessions["sessions"]),
            "series": sum(b["events"] for b in series["buckets"])}


def test_new_events_are_counted_at_once_and_repeats_come_from_the_cache(destination: StorageConfig) -> None:
    asyncio.run(store(destination, make_events(120, seed=51, sessions=4, days=2)))
    with TestClient(create_api_server(MonitorConfig(storage=destination))) as client:
        cached = client.app.state.llamonitor.backend  # type: ignore[attr-defined]
        assert isinstance(cached, CachedQueryBackend)
        first = _totals(client)
        assert first == {"events": 120, "sessions": 4, "by_operation": 120, "listed": 120, "series": 120}
        hits = cached.hits
        assert _totals(client) == first
        assert cached.hits >= hits + 4  # nothing written: every answer from the cache

        # another writer stores more (new sessions too) right after the cached answers
        asyncio.run(store(destination, make_events(35, seed=52, sessions=7, days=1)))
        # session-0..3, then session-0..6
        assert _totals(client) == {"events": 155, "sessions": 7, "by_operation": 155, "listed": 155, "series": 155}
        asyncio.run(store(destination, make_events(5, seed=53, sessions=1, days=1)))
        assert _totals(client)["events"] == 160  # and again, immediately


def test_a_failed_computation_is_not_kept() -> None:
    class Flaky:
        def __init__(self) -> None:
            self.calls = 0

        async def generation(self) -> int:
            return 1

        async def summary(self, filter: Any = None) -> str:
            self.calls += 1
            if self.calls == 1:
                raise OSError("storage hiccup")
            return "ok"

        async def close(self) -> None:
            pass

    flaky = Flaky()
    cached = CachedQueryBackend(flaky)  # type: ignore[arg-type]

    async def run() -> None:
        with pytest.raises(OSError):
            await cached.summary()
        assert await cached.summary() == "ok"  # asked again, not the failure
        assert await cached.summary() == "ok" and flaky.calls == 2

    asyncio.run(run())


def test_concurrent_identical_questions_share_one_computation() -> None:
    class Slow:
        def __init__(self) -> None:
            self.calls = 0
            self.gen = 1

        async def generation(self) -> int:
            return self.gen

        async def summary(self, filter: Any = None) -> int:
            self.calls += 1
            await asyncio.sleep(0.05)
            return self.gen

        async def close(self) -> None:
            pass

    slow = Slow()
    cached = CachedQueryBackend(slow)  # type: ignore[arg-type]

    async def run() -> None:
        assert await asyncio.gather(*[cached.summary() for _ in range(20)]) == [1] * 20
        assert slow.calls == 1
        slow.gen = 2  # new data: asked again
        assert await cached.summary() == 2 and slow.calls == 2

    asyncio.run(run())
