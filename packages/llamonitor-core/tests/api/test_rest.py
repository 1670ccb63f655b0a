"""REST routes over real stored data (Parquet and PostgreSQL)."""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient
from llamonitor.schema.events import MetricEvent

from .conftest import N_EVENTS, get_ok


def test_health_and_openapi(client: TestClient) -> None:
    assert get_ok(client, "/api/health")["status"] == "ok"
    spec = get_ok(client, "/openapi.json")
    for path in ("/api/v1/events", "/api/v1/sessions", "/api/v1/sessions/{session_id}",
                 "/api/v1/sessions/{session_id}/traces", "/api/v1/metrics/summary", "/api/v1/metrics/operations",
                 "/api/v1/metrics/models", "/api/v1/metrics/costs", "/api/v1/metrics/agents",
                 "/api/v1/agents", "/api/v1/agents/handoffs", "/api/v1/agents/graph", "/api/v1/traces/{trace_id}"):
        assert path in spec["paths"], path
        assert list(spec["paths"][path]) == ["get"]  # read-only
    assert client.get("/docs").status_code == 200


def test_summary_matches_the_stored_events(client: TestClient, stored_events: list[MetricEvent]) -> None:
    s = get_ok(client, "/api/v1/metrics/summary")
    assert s["total_events"] == N_EVENTS
    assert s["errors"] == sum(e.error for e in stored_events)
    assert s["sessions"] == 5
    assert s["total_cost_usd"] == pytest.approx(sum(e.cost.total_cost_usd or 0 for e in stored_events if e.cost))
    one = get_ok(client, "/api/v1/metrics/summary", session_id="session-1")
    assert one["total_events"] == sum(e.session_id == "session-1" for e in stored_events)


def test_events_pages_with_cursor_and_filters(client: TestClient, stored_events: list[MetricEvent]) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 70} | ({"cursor": cursor} if cursor else {})
        page = get_ok(client, "/api/v1/events", **params)
        seen += [e["event_id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == N_EVENTS == len(set(seen))
    errs = get_ok(client, "/api/v1/events", errors_only="true", limit=1000)["events"]
    assert len(errs) == sum(e.error for e in stored_events) and all(e["error"] for e in errs)
    chat = get_ok(client, "/api/v1/events", operation_name="chat", session_id="session-0", limit=1000)["events"]
    assert len(chat) == sum(e.operation_name == "chat" and e.session_id == "session-0" for e in stored_events)
    answered = {e.event_id: (e.model, e.response_model) for e in stored_events}
    assert all((e["model"], e["response_model"]) == answered[e["event_id"]] for e in chat)
    assert any(e["response_model"] for e in chat)
    window = get_ok(client, "/api/v1/events", start="2026-01-02T00:00:00Z", end="2026-01-03T00:00:00", limit=1000)
    assert window["events"] and all(e["start_time"].startswith("2026-01-02") for e in window["events"])


def test_sessions_traces_and_trace_events(client: TestClient, stored_events: list[MetricEvent]) -> None:
    sessions = get_ok(client, "/api/v1/sessions", limit=10)["sessions"]
    assert {s["session_id"] for s in sessions} == {f"session-{i}" for i in range(5)}
    detail = get_ok(client, "/api/v1/sessions/session-2")
    assert detail["events"] == sum(e.session_id == "session-2" for e in stored_events)
    traces = get_ok(client, "/api/v1/sessions/session-2/traces", include_events="true")["traces"]
    assert sum(t["events"] for t in traces) == detail["events"]
    assert all(len(t["spans"]) == t["events"] for t in traces)
    tr = get_ok(client, f"/api/v1/traces/{traces[0]['trace_id']}", session_id="session-2")
    assert tr["count"] == traces[0]["events"]
    assert client.get("/api/v1/sessions/nope").status_code == 404
    assert client.get("/api/v1/traces/nope").status_code == 404


def test_groups_and_costs(client: TestClient, stored_events: list[MetricEvent]) -> None:
    ops = get_ok(client, "/api/v1/metrics/operations")["operations"]
    assert {o["key"]: o["events"] for o in ops} == dict(Counter(e.operation_name for e in stored_events))
    assert all(o["latency"]["p95_ms"] is not None for o in ops)
    models = get_ok(client, "/api/v1/metrics/models")["models"]
    assert sum(m["events"] for m in models) == N_EVENTS
    agents = get_ok(client, "/api/v1/metrics/agents")["agents"]
    assert "planner" in {a["key"] for a in agents}
    for by in ("model", "operation", "session", "day", "agent"):
        rows = get_ok(client, "/api/v1/metrics/costs", group_by=by)
        assert sum(r["events"] for r in rows["costs"]) == N_EVENTS, by
    days = get_ok(client, "/api/v1/metrics/costs", group_by="day")["costs"]
    assert [d["key"] for d in days] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    series = get_ok(client, "/api/v1/metrics/timeseries", buckets=6)["buckets"]
    assert len(series) == 6 and sum(b["events"] for b in series) == N_EVENTS


def test_agent_analytics(client: TestClient) -> None:
    agents = get_ok(client, "/api/v1/agents")["agents"]
    assert {"planner", "researcher"} <= {a["agent_name"] for a in agents}
    handoffs = get_ok(client, "/api/v1/agents/handoffs")
    assert "statistics" in handoffs
    graph = get_ok(client, "/api/v1/agents/graph")
    assert {"nodes", "edges", "max_depth"} <= set(graph)
    d3 = get_ok(client, "/api/v1/agents/graph", format="d3")
    assert "links" in d3


@pytest.mark.parametrize(("url", "params", "name"), [
    ("/api/v1/events", {"limit": "0"}, "limit"),
    ("/api/v1/events", {"limit": "abc"}, "limit"),
    ("/api/v1/events", {"offset": "-1"}, "offset"),
    ("/api/v1/events", {"start": "yesterday"}, "start"),
    ("/api/v1/events", {"cursor": "garbage"}, "cursor"),
    ("/api/v1/events", {"errors_only": "maybe"}, "errors_only"),
    ("/api/v1/events", {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
    ("/api/v1/metrics/operations", {"end": "9223372036200660."}, "end"),
    ("/api/v1/metrics/costs", {"group_by": "planet"}, "group_by"),
    ("/api/v1/metrics/timeseries", {"buckets": "0"}, "buckets"),
    ("/api/v1/agents/graph", {"format": "png"}, "format"),
])
def test_bad_parameters_are_4xx_naming_the_parameter(client: TestClient, url: str, params: dict[str, str],
                                                       name: str) -> None:
    resp = client.get(url, params=params)
    assert resp.status_code in (400, 422), resp.text
    assert f"'{name}'" in resp.json()["detail"]


def test_read_only(client: TestClient) -> None:
    assert client.post("/api/v1/events", json={}).status_code == 405
    assert client.delete("/api/v1/sessions/session-1").status_code == 405


def test_the_server_warms_the_parquet_column_cache_at_start(tmp_path, stored_events: list[MetricEvent]) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import time

    from llamonitor import MonitorConfig, StorageConfig
    from llamonitor.api import create_api_server

    from .conftest import store

    config = StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"))
    asyncio.run(store(config, stored_events))
    app = create_api_server(MonitorConfig(storage=config))
    with TestClient(app):  # no request: only the start-up
        backend = app.state.llamonitor.backend.backend  # the Parquet backend under the generation cache
        deadline = time.monotonic() + 10
        while len(backend.cache) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(backend.cache) > 0  # the files were decoded before the first request
