"""GraphQL queries of the seed README over real stored data (Parquet and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from llamonitor.schema.events import MetricEvent

from .conftest import N_EVENTS


def gql(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    resp = client.post("/graphql", json={"query": query, "variables": variables})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def test_seed_summary_and_operations(client: TestClient, stored_events: list[MetricEvent]) -> None:
    data = gql(client, """query {
      summary { totalEvents totalCost_usd totalCostUsd errorRate }
      operations { operationName count p95DurationMs estimatedCostUsd }
    }""")
    s = data["summary"]
    assert s["totalEvents"] == N_EVENTS
    assert s["totalCost_usd"] == s["totalCostUsd"] == pytest.approx(
        sum(e.cost.total_cost_usd or 0 for e in stored_events if e.cost))
    assert s["errorRate"] == pytest.approx(sum(e.error for e in stored_events) / N_EVENTS)
    assert sum(o["count"] for o in data["operations"]) == N_EVENTS
    assert all(o["p95DurationMs"] > 0 for o in data["operations"])


def test_seed_events_query(client: TestClient) -> None:
    data = gql(client, """query {
      events(filter: { limit: 10, errorOnly: false }) {
        eventId operationName timestamp durationMs textMetrics { charCount wordCount }
      }
    }""")
    assert len(data["events"]) == 10
    assert all(e["eventId"] and e["timestamp"] for e in data["events"])
    models = gql(client, "{ events(filter: { limit: 1000 }) { eventId model responseModel } }")["events"]
    assert any(e["responseModel"] for e in models)
    assert all(e["responseModel"] is None or e["responseModel"] == f"{e['model']}-2024-07-18" for e in models)
    errs = gql(client, "{ events(filter: { limit: 1000, errorOnly: true }) { error errorType } }")["events"]
    assert errs and all(e["error"] for e in errs)


def test_sessions_traces_agents(client: TestClient) -> None:
    data = gql(client, """{ sessions(limit: 3) { sessionId events traces }
                            agents { agentName count p95DurationMs }
                            models { model count } }""")
    assert len(data["sessions"]) == 3
    assert "planner" in {a["agentName"] for a in data["agents"]}
    sid = data["sessions"][0]["sessionId"]
    traces = gql(client, "query($s: String!) { traces(sessionId: $s) { traceId events } }", s=sid)["traces"]
    assert sum(t["events"] for t in traces) == data["sessions"][0]["events"]
    spans = gql(client, "query($t: String!, $s: String) { traceEvents(traceId: $t, sessionId: $s) { spanId } }",
                t=traces[0]["traceId"], s=sid)["traceEvents"]
    assert len(spans) == traces[0]["events"]


def test_bad_graphql_input_is_an_error_naming_the_field(client: TestClient) -> None:
    body = client.post("/graphql", json={"query": "{ events(filter: { limit: 0 }) { eventId } }"}).json()
    assert "filter.limit" in body["errors"][0]["message"]
