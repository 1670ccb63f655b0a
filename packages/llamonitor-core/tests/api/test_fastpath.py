"""The REST routes' fast path (``api/fastpath.py``): the same answers as the full FastAPI way, and
anything it does not take (other parameters, bad values, errors) still answered the full way."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from llamonitor.api.fastpath import FastRoutes


def fast_routes(client: TestClient) -> FastRoutes:
    app: Any = client.app
    layer = app.middleware_stack
    while not isinstance(layer, FastRoutes):
        layer = layer.app
    return layer


def both_ways(client: TestClient, url: str) -> tuple[Any, Any]:
    """``url`` answered by the fast path, then the full way (an unknown parameter: FastAPI ignores it,
    the fast path does not take it); checks which way each went."""
    fast = fast_routes(client)
    before = fast.served
    quick = client.get(url)
    assert fast.served == before + 1, url
    full = client.get(url + ("&" if "?" in url else "?") + "full=1")
    assert fast.served == before + 1, url
    return quick, full


URLS = ["/api/v1/metrics/summary", "/api/v1/metrics/operations", "/api/v1/metrics/models", "/api/v1/metrics/agents",
        "/api/v1/metrics/timeseries", "/api/v1/metrics/timeseries?buckets=7", "/api/v1/events",
        "/api/v1/events?limit=7", "/api/v1/events?limit=5&offset=3", "/api/v1/sessions?limit=3",
        "/api/v1/sessions?offset=1&limit=2", "/api/health"]


@pytest.mark.parametrize("url", URLS)
def test_the_fast_path_answers_as_the_full_way(client: TestClient, url: str) -> None:
    quick, full = both_ways(client, url)
    assert quick.status_code == full.status_code == 200
    assert quick.headers["content-type"] == full.headers["content-type"]
    assert quick.json() == full.json()


def test_a_session_s_traces_the_same_both_ways(client: TestClient) -> None:
    session = client.get("/api/v1/sessions?limit=1&full=1").json()["sessions"][0]["session_id"]
    quick, full = both_ways(client, f"/api/v1/sessions/{session}/traces?limit=3")
    assert quick.status_code == full.status_code == 200
    assert quick.json() == full.json() and quick.json()["count"] == 3


@pytest.mark.parametrize("query", ["limit=0", "limit=10001", "limit=-1", "limit=+5", "limit=05", "limit=5&limit=6",
                                   "limit=", "limit", "limit=1e3", "offset=1000000001", "limit=%35"])
def test_values_it_does_not_take_go_the_full_way(client: TestClient, query: str) -> None:
    fast = fast_routes(client)
    before = fast.served
    resp = client.get("/api/v1/events?" + query)
    assert fast.served == before  # FastAPI decided: its 422, or its reading of the value
    assert resp.status_code in (200, 422)
    if resp.status_code == 422:
        assert "parameter" in resp.json()["detail"]


def test_other_parameters_and_routes_go_the_full_way(client: TestClient) -> None:
    fast = fast_routes(client)
    before = fast.served
    for url in ("/api/v1/events?session_id=nobody", "/api/v1/metrics/summary?start=2026-01-01T00:00:00Z",
                "/api/v1/metrics/costs", "/api/v1/sessions/nobody", "/api/v1/events?errors_only=true"):
        assert client.get(url).status_code in (200, 404), url
    assert client.get("/api/v1/metrics/summary?start=5").status_code == 422
    assert fast.served == before


def test_a_route_that_raises_is_answered_by_fastapi_s_handlers(client: TestClient) -> None:
    fast = fast_routes(client)
    before = fast.served
    resp = client.get("/api/v1/events?cursor=not-a-cursor")  # a str parameter: the full way anyway
    assert resp.status_code == 400
    assert client.get("/api/v1/sessions/nobody/traces").json() == {"session_id": "nobody", "traces": [], "count": 0}
    assert fast.served == before + 1
