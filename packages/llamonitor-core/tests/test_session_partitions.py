"""``partition_by="session_id"``: every session written is read back, whatever its name starts with.

Folders starting with ``_`` or ``.`` are hidden to Parquet readers; sessions named ``@alice`` or
``_y`` used to be written there and never read (by ``report``, the query layer or the API).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import llamonitor
import pytest
from fastapi.testclient import TestClient
from llamonitor import monitor_llm, monitoring_session
from llamonitor.api import create_api_server
from llamonitor.cli.main import main
from llamonitor.query import EventFilter, create_query_backend
from llamonitor.schema.config import MonitorConfig, StorageConfig

SESSIONS = ["@alice", "#x", "_y", "/z", ".hidden", "..", "normal", "@alice/../../etc", "a b"]
PER_SESSION = 3


@pytest.fixture
def written(tmp_path: Path) -> StorageConfig:
    storage = StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"), partition_by="session_id",
                            flush_interval_seconds=0.05)
    llamonitor.initialize_monitoring_sync(MonitorConfig(storage=storage, spill_dir=str(tmp_path / "spill")))
    call = monitor_llm("op")(lambda: "ok")
    for session in SESSIONS:
        with monitoring_session(session):
            for _ in range(PER_SESSION):
                call()
    assert llamonitor.shutdown_sync(30)
    folders = [p.name for p in (tmp_path / "data").iterdir()]
    assert not [f for f in folders if f.startswith(("_", "."))], folders
    return storage


def test_report_counts_every_session(written: StorageConfig, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--dir", written.output_dir, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total_events"] == len(SESSIONS) * PER_SESSION


def test_query_layer_finds_each_session_by_name(written: StorageConfig) -> None:
    async def counts() -> dict[str, int]:
        query = create_query_backend(written)
        try:
            found = {}
            for session in SESSIONS:
                page = await query.events(EventFilter(session_id=session), limit=100)
                found[session] = len(page.events)
            found["*"] = len((await query.events(EventFilter(), limit=1000)).events)
            return found
        finally:
            await query.close()

    found = asyncio.run(counts())
    assert found == {**dict.fromkeys(SESSIONS, PER_SESSION), "*": len(SESSIONS) * PER_SESSION}


def test_api_lists_every_session(written: StorageConfig) -> None:
    with TestClient(create_api_server(MonitorConfig(storage=written))) as client:
        body = client.get("/api/v1/sessions", params={"limit": 100}).json()
        assert sorted(s["session_id"] for s in body["sessions"]) == sorted(SESSIONS)
        one = client.get("/api/v1/metrics/summary", params={"session_id": "@alice"}).json()
        assert one["total_events"] == PER_SESSION
