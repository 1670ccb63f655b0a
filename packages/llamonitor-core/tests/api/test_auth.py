"""Bearer token: every route, WebSocket and GraphQL refuses without it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from llamonitor.api import create_api_server
from llamonitor.schema.config import MonitorConfig, StorageConfig
from starlette.websockets import WebSocketDisconnect

TOKEN = "s3cret-token"


def _app(tmp_path: Path, **kwargs: object) -> TestClient:
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path / "data")))
    return TestClient(create_api_server(config, **kwargs))  # type: ignore[arg-type]


def _paths(client: TestClient) -> list[str]:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    paths = [*spec["paths"], "/openapi.json", "/docs", "/redoc", "/static/app.js", "/graphql", "/"]
    return [p.replace("{session_id}", "s").replace("{trace_id}", "t") for p in paths]


def test_every_route_refuses_without_the_token(tmp_path: Path) -> None:
    with _app(tmp_path, token=TOKEN) as client:
        paths = _paths(client)
        assert len(paths) >= 20
        for path in paths:
            for bad in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic " + TOKEN}):
                resp = client.get(path, headers=bad)
                assert resp.status_code == 401, (path, bad, resp.status_code)
                assert resp.headers["www-authenticate"] == "Bearer"
        assert client.post("/graphql", json={"query": "{ summary { totalEvents } }"}).status_code == 401
        for path in ("/api/v1/stream", "/api/v1/stream/sessions/s", "/api/v1/stream/operations/o", "/graphql"):
            with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(path) as ws:
                ws.receive_json()
            assert info.value.code == 1008, path


def test_the_token_lets_requests_in(tmp_path: Path) -> None:
    with _app(tmp_path, token=TOKEN) as client:
        ok = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/api/v1/metrics/summary", headers=ok).status_code == 200
        page = client.get(f"/?token={TOKEN}")  # exchanged for a cookie (test_hardening checks it in detail)
        assert page.status_code == 200
        assert TOKEN not in page.text and page.url.path == "/" and not page.url.query
        assert client.get(f"/static/app.js?token={TOKEN}").status_code == 200
        gql = client.post("/graphql", headers=ok, json={"query": "{ summary { totalEvents } }"})
        assert gql.json() == {"data": {"summary": {"totalEvents": 0}}}
        with client.websocket_connect(f"/api/v1/stream?token={TOKEN}") as ws:
            ws.close()


def test_token_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMONITOR_API_TOKEN", TOKEN)
    with _app(tmp_path) as client:
        assert client.get("/api/health").status_code == 401
        assert client.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_no_token_no_cors_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMONITOR_API_TOKEN", raising=False)
    with _app(tmp_path) as client:
        resp = client.get("/api/health", headers={"Origin": "http://evil.example"})
        assert resp.status_code == 200 and "access-control-allow-origin" not in resp.headers
    with _app(tmp_path, cors_origins=["http://ok.example"]) as client:
        resp = client.get("/api/health", headers={"Origin": "http://ok.example"})
        assert resp.headers["access-control-allow-origin"] == "http://ok.example"
