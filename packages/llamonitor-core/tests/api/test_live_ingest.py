"""Live feed of a ``serve`` that ingests OTLP: its own writer feeds the hub directly, the storage tail
skips what that writer stores (and still finds what other processes store), and reads nothing while
no live client listens."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from llamonitor.api import create_api_server
from llamonitor.schema.config import MonitorConfig, StorageConfig
from testkits.storage import live_storage

from .test_live_tail import receive_events, wait_primed, write_elsewhere

pytestmark = pytest.mark.timeout(90)

TRACE = "5b8efff798038103d269b633813fc60c"


def otlp_body(n: int, first: int) -> bytes:
    """An OTLP/JSON request of ``n`` GenAI chat spans (span ids from ``first``), starting now."""
    now = time.time_ns()
    spans = [{"traceId": TRACE, "spanId": f"{first + i:016x}", "name": "ingested.chat", "kind": 3,
              "startTimeUnixNano": str(now + i), "endTimeUnixNano": str(now + i + 1_000_000),
              "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                             {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                             {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}}]}
             for i in range(n)]
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}).encode()


def ingest(client: TestClient, n: int, first: int) -> None:
    resp = client.post("/v1/traces", content=otlp_body(n, first), headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text


@pytest.fixture(params=["parquet", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageConfig]:
    yield from live_storage(request.param, tmp_path)


def api(storage: StorageConfig, tmp_path: Path) -> Any:
    return create_api_server(MonitorConfig(storage=storage, spill_dir=str(tmp_path / "spill")), ingest=True)


def test_ingested_events_reach_the_live_feed_from_the_writer_and_other_processes_still_arrive(
        storage: StorageConfig, tmp_path: Path) -> None:
    with TestClient(api(storage, tmp_path)) as client:
        hub = wait_primed(client)
        with client.websocket_connect("/api/v1/stream") as ws:
            ingest(client, 30, 1)
            got = receive_events(ws, 30)
            assert {e["operation_name"] for e in got} == {"ingested.chat"}
            assert hub.stats()["writer_attached"] and hub.tail.running
            assert hub.mode.startswith("in-process + ")
            # another process writes to the same storage: found by the tail
            write_elsewhere(storage, 20, "elsewhere", tmp_path / "spill1")
            other = receive_events(ws, 20)
            assert {e["operation_name"] for e in other} == {"elsewhere"}
            # more ingestion, then a marker from elsewhere: a repeat of the ingested events would come before it
            ingest(client, 25, 1000)
            more = receive_events(ws, 25)
            assert {e["operation_name"] for e in more} == {"ingested.chat"}
            write_elsewhere(storage, 5, "marker", tmp_path / "spill2")
            marker = receive_events(ws, 5)
            assert {e["operation_name"] for e in marker} == {"marker"}
        ids = [e["event_id"] for e in got + other + more + marker]
        assert len(ids) == len(set(ids)) == 80
        tail = hub.tail
        # the tail did not read what this process stored: skipped on its ids / its notification
        assert tail.own_skipped >= 1
        assert tail.published == 25  # the other process's events only
        if storage.backend == "parquet":
            assert tail.files_read == 2  # the other process's two runs


def test_tail_reads_nothing_while_no_client_listens(storage: StorageConfig, tmp_path: Path) -> None:
    with TestClient(api(storage, tmp_path)) as client:
        hub = wait_primed(client)
        tail = hub.tail
        ingest(client, 40, 1)
        write_elsewhere(storage, 20, "unwatched", tmp_path / "spill1")
        idle = tail.idle_scans
        deadline = time.monotonic() + 10
        while tail.idle_scans < idle + 3:  # the tail looked (and stayed idle) after both were stored
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert (tail.reads, tail.files_read, tail.published) == (0, 0, 0)
        if storage.backend == "postgres":
            assert tail._listener.notifications >= 2  # told, and still read nothing
        with client.websocket_connect("/api/v1/stream") as ws:
            write_elsewhere(storage, 10, "watched", tmp_path / "spill2")
            got = receive_events(ws, 10)
        # what was stored before the client came is not replayed to it
        assert {e["operation_name"] for e in got} == {"watched"}
        assert tail.published == 10
