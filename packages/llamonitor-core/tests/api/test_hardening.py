"""``llamonitor serve`` fit to expose (issue 17): hosts, CORS with a token, the cookie, GraphQL limits,
user-input errors as JSON 4xx, storage failures as JSON 503, honest health."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from llamonitor.api import create_api_server
from llamonitor.schema.config import MonitorConfig, StorageConfig
from testkits.storage import drop, make_events, server_config, store, unique_name

TOKEN = "s3cret-token"
LOCAL = "http://127.0.0.1"


def _config(tmp_path: Path) -> MonitorConfig:
    return MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path / "data")))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens once the socket is closed


# -- hosts, CORS, token cookie ----------------------------------------------------------------
def test_a_foreign_host_header_is_refused(tmp_path: Path) -> None:
    with TestClient(create_api_server(_config(tmp_path)), base_url=LOCAL) as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/health", headers={"host": "localhost:8080"}).status_code == 200
        assert client.get("/api/health", headers={"host": "attacker.example"}).status_code == 400
        assert client.get("/api/health", headers={"host": "attacker.example:8080"}).status_code == 400


def test_allowed_hosts_are_configurable(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.extensions["api"] = {"allowed_hosts": ["monitor.internal"]}
    with TestClient(create_api_server(config), base_url="http://monitor.internal") as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/health", headers={"host": "attacker.example"}).status_code == 400


def test_cors_preflight_is_answered_before_the_token_check(tmp_path: Path) -> None:
    app = create_api_server(_config(tmp_path), token=TOKEN, cors_origins=["http://app.example"])
    with TestClient(app, base_url=LOCAL) as client:
        pre = client.options("/api/v1/events", headers={
            "origin": "http://app.example", "access-control-request-method": "GET",
            "access-control-request-headers": "authorization"})
        assert pre.status_code == 200, pre.text
        assert pre.headers["access-control-allow-origin"] == "http://app.example"
        assert "authorization" in pre.headers["access-control-allow-headers"].lower()
        # the real request still needs the token, and its refusal carries CORS headers the page can read
        refused = client.get("/api/v1/events", headers={"origin": "http://app.example"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "http://app.example"
        ok = client.get("/api/v1/events", headers={"origin": "http://app.example", "authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200


def test_the_query_token_becomes_an_http_only_cookie(tmp_path: Path) -> None:
    app = create_api_server(_config(tmp_path), token=TOKEN)
    with TestClient(app, base_url=LOCAL) as client:
        page = client.get(f"/?token={TOKEN}", follow_redirects=False)
        assert page.status_code == 303  # the token leaves the address bar (and the history)
        assert page.headers["location"] == "/"
        cookie = page.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower(), cookie
        again = client.get("/")  # the cookie jar now carries it
        assert again.status_code == 200 and TOKEN not in again.text
        assert client.get("/static/app.js").status_code == 200
        # a browser sends the cookie on the WebSocket upgrade (the test client's jar does not: say it)
        with client.websocket_connect("/api/v1/stream", headers={"cookie": f"llamonitor_token={TOKEN}"}) as ws:
            ws.close()
        client.cookies.clear()
        assert client.get("/static/app.js").status_code == 401
        client.cookies.set("llamonitor_token", "wrong")
        assert client.get("/api/health").status_code == 401


# -- GraphQL limits -----------------------------------------------------------------------------
def _gql(client: TestClient, query: str) -> dict[str, object]:
    resp = client.post("/graphql", json={"query": query})
    assert resp.status_code in (200, 400), resp.text
    out: dict[str, object] = resp.json()
    return out


def _codes(body: dict[str, object]) -> list[object]:
    return [e.get("extensions", {}).get("code") for e in body["errors"]]  # type: ignore[attr-defined, union-attr]


def test_graphql_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    with TestClient(create_api_server(_config(tmp_path)), base_url=LOCAL) as client:
        query = "{" + " ".join(f"a{i}: events(filter:{{limit:10000}}) {{ eventId }}" for i in range(300)) + "}"
        began = time.perf_counter()
        body = _gql(client, query)
        assert time.perf_counter() - began < 1.0
        assert body.get("data") is None and _codes(body) == ["BAD_USER_INPUT"], body
        assert "alias" in str(body["errors"]).lower() or "tokens" in str(body["errors"]).lower()
        few = "{" + " ".join(f"a{i}: summary {{ totalEvents }}" for i in range(25)) + "}"  # short, many aliases
        body = _gql(client, few)
        assert body.get("data") is None and _codes(body) == ["BAD_USER_INPUT"], body
        assert "alias" in str(body["errors"]).lower()


def test_graphql_depth_bomb_is_refused(tmp_path: Path) -> None:
    with TestClient(create_api_server(_config(tmp_path)), base_url=LOCAL) as client:
        deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType " \
               "{ ofType { ofType { name } } } } } } } } } } } } }"
        body = _gql(client, deep)
        assert body.get("data") is None and "BAD_USER_INPUT" in _codes(body), body
        assert "depth" in str(body["errors"]).lower()


def test_graphql_cost_budget_sums_requested_limits(tmp_path: Path) -> None:
    with TestClient(create_api_server(_config(tmp_path)), base_url=LOCAL) as client:
        ok = _gql(client, "{ a: events(filter:{limit:10000}) { eventId } b: sessions(limit: 100) { sessionId } }")
        assert "errors" not in ok, ok
        over = _gql(client, "{" + " ".join(f"a{i}: events(filter:{{limit:10000}}) {{ eventId }}" for i in range(6))
                    + "}")
        assert over.get("data") is None and _codes(over) == ["BAD_USER_INPUT"], over
        assert "budget" in str(over["errors"]).lower()


def test_graphql_bad_bodies_are_4xx(tmp_path: Path) -> None:
    with TestClient(create_api_server(_config(tmp_path)), base_url=LOCAL) as client:
        for body in (b"[1, 2]", b"42", b'"query"', b"null", b"\xff\xfe{", b"{"):
            resp = client.post("/graphql", content=body, headers={"content-type": "application/json"})
            assert 400 <= resp.status_code < 500, (body, resp.status_code, resp.text)
            assert resp.headers["content-type"].startswith("application/json"), body
        bad_utf8 = client.get("/api/v1/events", params={"session_id": b"\xff".decode("latin-1")})
        assert bad_utf8.status_code in (200, 422)


# -- user input on each backend -----------------------------------------------------------------
@pytest.fixture(params=["parquet", "postgres", "mysql"], scope="module")
def any_backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    events = make_events(20, sessions=2, days=1)
    if request.param == "parquet":
        config = StorageConfig(backend="parquet", output_dir=str(tmp_path_factory.mktemp("hard") / "data"))
    else:
        config = server_config(request.param, unique_name())
    asyncio.run(store(config, events))
    try:
        with TestClient(create_api_server(MonitorConfig(storage=config)), base_url=LOCAL) as client:
            yield client
    finally:
        if request.param != "parquet":
            asyncio.run(drop(config))


@pytest.mark.parametrize("url", [
    "/api/v1/events?session_id=a%00b", "/api/v1/events?model=%00", "/api/v1/sessions?operation_name=x%00",
    "/api/v1/metrics/summary?agent_name=%00", "/api/v1/sessions/a%00b", "/api/v1/traces/t%00",
    "/api/v1/sessions/a%00b/traces", "/api/v1/metrics/costs?model=%00",
    "/api/v1/events?offset=9223372036854775808", "/api/v1/events?offset=" + str(10 ** 30),
    "/api/v1/sessions?offset=" + str(10 ** 30), "/api/v1/events?limit=" + str(10 ** 30),
])
def test_user_input_is_a_json_422(any_backend: TestClient, url: str) -> None:
    resp = any_backend.get(url)
    assert resp.status_code == 422, (url, resp.status_code, resp.text)
    assert "parameter" in resp.json()["detail"]


def test_graphql_nul_byte_is_bad_user_input(any_backend: TestClient) -> None:
    body = _gql(any_backend, '{ events(filter:{sessionId:"a\\u0000b"}) { eventId } }')
    assert _codes(body) == ["BAD_USER_INPUT"], body
    body = _gql(any_backend, '{ traceEvents(traceId:"t\\u0000") { eventId } }')
    assert _codes(body) == ["BAD_USER_INPUT"], body
    body = _gql(any_backend, "{ events(filter:{offset: 2000000000}) { eventId } }")
    assert _codes(body) == ["BAD_USER_INPUT"], body


# -- storage down ---------------------------------------------------------------------------------
def test_health_and_routes_say_503_when_the_database_is_unreachable() -> None:
    dsn = f"postgresql://postgres:hunter2@127.0.0.1:{_closed_port()}/test"
    config = MonitorConfig(storage=StorageConfig(backend="postgres", connection_string=dsn, table_name="t"))
    with TestClient(create_api_server(config), base_url=LOCAL) as client:
        health = client.get("/api/health")
        assert health.status_code == 503, health.text
        assert health.json()["status"] == "down"
        assert "hunter2" not in health.text
        for url in ("/api/v1/events", "/api/v1/metrics/summary", "/api/v1/sessions/s"):
            resp = client.get(url)
            assert resp.status_code == 503, (url, resp.text)
            assert resp.headers["content-type"].startswith("application/json")
            assert "storage" in resp.json()["detail"] and "hunter2" not in resp.text
        gql = client.post("/graphql", json={"query": "{ summary { totalEvents } }"})
        assert "hunter2" not in gql.text
        assert [e["extensions"]["code"] for e in gql.json()["errors"]] == ["STORAGE_UNAVAILABLE"]


def test_health_is_ok_when_storage_answers(tmp_path: Path) -> None:
    with TestClient(create_api_server(_config(tmp_path)), base_url=LOCAL) as client:
        health = client.get("/api/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["storage"] == "ok"


@pytest.mark.parametrize("backend", ["parquet", "postgres"])
def test_health_asks_the_storage_a_cheap_question_not_a_summary(tmp_path: Path, backend: str) -> None:
    storage = (StorageConfig(backend="parquet", output_dir=str(tmp_path / "data")) if backend == "parquet"
               else server_config("postgres", unique_name()))
    try:
        asyncio.run(store(storage, make_events(50, seed=61)))
        with TestClient(create_api_server(MonitorConfig(storage=storage)), base_url=LOCAL) as client:
            cached = client.app.state.llamonitor.backend  # type: ignore[attr-defined]
            time.sleep(0.5)  # the start-up warm-up has run its summary
            inner = cached.backend
            calls: list[str] = []
            real = inner.summary

            async def counted(*args: object, **kwargs: object) -> object:
                calls.append("summary")
                return await real(*args, **kwargs)

            inner.summary = counted
            for _ in range(5):
                health = client.get("/api/health")
                assert health.status_code == 200 and health.json()["status"] == "ok"
            assert calls == []
    finally:
        if backend != "parquet":
            asyncio.run(drop(storage))


def test_health_says_degraded_when_the_storage_is_slow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llamonitor.api import errors

    monkeypatch.setattr(errors, "HEALTH_TIMEOUT_S", 0.2)
    with TestClient(create_api_server(_config(tmp_path)), base_url=LOCAL) as client:
        cached = client.app.state.llamonitor.backend  # type: ignore[attr-defined]

        async def slow() -> None:
            await asyncio.sleep(1.0)

        cached.backend.ping = slow
        health = client.get("/api/health")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded" and "0.2 s" in health.json()["detail"]


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps({"ok": True}))


# -- offline docs ---------------------------------------------------------------------------------
def test_docs_pages_load_only_local_assets(tmp_path: Path) -> None:
    import re

    with TestClient(create_api_server(_config(tmp_path)), base_url=LOCAL) as client:
        for page in ("/docs", "/redoc", "/graphql"):
            html = client.get(page, headers={"accept": "text/html"})
            assert html.status_code == 200
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\\s*['"]([^'"]+)['"]""", html.text)
            assets = [u for pair in urls for u in pair if u.startswith(("/", "http:", "https:"))]
            assert assets, html.text
            assert not [u for u in assets if u.startswith(("http:", "https:", "//"))], (page, assets)
            assert "unpkg.com" not in html.text and "cdn.jsdelivr" not in html.text, page
            for url in assets:
                assert client.get(url).status_code == 200, (page, url)
