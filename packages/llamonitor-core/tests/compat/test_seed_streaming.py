"""The seed's live feed API (``llmops_monitoring.streaming``) over llamonitor's hub, with real WebSockets.

Each test serves an app with uvicorn on 127.0.0.1 (a seed user's own endpoint built on
``EventBroadcaster.get_instance().get_connection_manager()``, llamonitor's API app, or
``llamonitor serve`` in another process) and connects with the ``websockets`` client.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from llamonitor.schema.config import MonitorConfig, StorageConfig, WebSocketConfig
from llamonitor.schema.events import MetricEvent
from testkits.serve import free_port
from websockets.asyncio.client import ClientConnection, connect

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def fresh_broadcaster() -> Iterator[None]:
    from llmops_monitoring.streaming import EventBroadcaster

    EventBroadcaster._instance = None
    yield
    EventBroadcaster._instance = None


@contextmanager
def uvicorn_app(app: Any) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """Serve ``app`` on a free port in a thread; yields ``(ws://host:port, the server's loop)``."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws="websockets-sansio", lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}", loop
    finally:
        server.should_exit = True
        thread.join(30)
        loop.close()


def seed_app() -> Any:
    """A seed user's own streaming endpoint, as the seed's server wrote it (filters from the query;
    ``WebSocket`` is imported at module level so FastAPI resolves the postponed annotation)."""
    from llmops_monitoring.streaming.broadcaster import EventBroadcaster

    app = FastAPI()

    @app.websocket("/my/stream")
    async def stream(websocket: WebSocket) -> None:
        manager = EventBroadcaster.get_instance().get_connection_manager()
        filters: dict[str, Any] = dict(websocket.query_params)
        if "error_only" in filters:
            filters["error_only"] = filters["error_only"] == "true"
        connection_id = await manager.connect(websocket, filters=filters or None)
        try:
            while True:
                data = await websocket.receive_text()
                await websocket.send_json({"type": "ping", "echo": data})
        except WebSocketDisconnect:
            pass
        finally:
            await manager.disconnect(connection_id)

    return app


def seed_event(name: str, session: str, *, op_type: str = "llm_call", error: str | None = None) -> MetricEvent:
    return MetricEvent(session_id=session, trace_id=f"t-{name}", span_id=f"sp-{name}", operation_name=name,
                       operation_type=op_type, duration_ms=12.5, error=error,  # type: ignore[arg-type]
                       custom_attributes={"model": "gpt-4o"})


async def recv(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def events_of(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    """The next ``n`` event messages' data (other message types are skipped)."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = await recv(ws)
        if msg["type"] == "event":
            out.append(msg["data"])
    return out


def wait_until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.02)


def test_connection_manager_connect_filters_broadcast_stats_and_disconnect(tmp_path: Path) -> None:
    from llmops_monitoring.streaming import ConnectionManager, EventBroadcaster

    broadcaster = EventBroadcaster.get_instance()
    assert EventBroadcaster.get_instance() is broadcaster
    with pytest.raises(RuntimeError, match="singleton"):
        EventBroadcaster()
    manager = broadcaster.get_connection_manager()
    assert isinstance(manager, ConnectionManager) and broadcaster.enabled is False

    with uvicorn_app(seed_app()) as (base, server_loop):
        async def scenario() -> None:
            async with connect(f"{base}/my/stream") as all_ws, \
                    connect(f"{base}/my/stream?session_id=s1") as s1_ws, \
                    connect(f"{base}/my/stream?operation_type=tool&error_only=true") as tool_errors_ws:
                hello = [await recv(ws) for ws in (all_ws, s1_ws, tool_errors_ws)]
                assert [h["type"] for h in hello] == ["connection"] * 3
                assert hello[0]["filters"] == {} and hello[1]["filters"] == {"session_id": "s1"}
                assert hello[2]["filters"] == {"operation_type": "tool", "error_only": True}
                assert hello[0]["message"] == "Connected to LLMOps monitoring stream"
                ids = [h["connection_id"] for h in hello]

                stats = broadcaster.get_stats()
                assert stats["enabled"] is False and stats["active_connections"] == 3
                assert stats["filtered_connections"] == 2 and sorted(stats["connection_ids"]) == sorted(ids)

                # disabled: broadcast_event does nothing (the seed's behaviour)
                await broadcaster.broadcast_event(seed_event("dropped", "s1"))
                broadcaster.enable()
                assert broadcaster.enabled is True and broadcaster.get_stats()["enabled"] is True
                await broadcaster.broadcast_events([seed_event("answer", "s1"),
                                                    seed_event("search", "s2", op_type="tool", error="boom"),
                                                    seed_event("lookup", "s1", op_type="tool", error="bad")])
                got_all = await events_of(all_ws, 3)
                assert [e["operation_name"] for e in got_all] == ["answer", "search", "lookup"]  # in order
                first = got_all[0]
                assert (first["session_id"], first["trace_id"], first["span_id"]) == ("s1", "t-answer", "sp-answer")
                assert first["duration_ms"] == 12.5 and first["operation_type"] == "llm_call"
                assert first["error"] is False
                assert first["custom_attributes"] == {"model": "gpt-4o"} and first["timestamp"]
                assert got_all[1]["error"] is True and got_all[1]["error_message"] == "boom"
                assert [e["operation_name"] for e in await events_of(s1_ws, 2)] == ["answer", "lookup"]
                assert [e["operation_name"] for e in await events_of(tool_errors_ws, 2)] == ["search", "lookup"]

                # the seed endpoint's heartbeat echo still works beside the stream
                await all_ws.send("hb")
                assert await recv(all_ws) == {"type": "ping", "echo": "hb"}

                # broadcast(message): a non-event message reaches everyone; an event dict is filtered
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(manager.broadcast(
                    {"type": "alert", "text": "slow"}), server_loop))
                for ws in (all_ws, s1_ws, tool_errors_ws):
                    assert await recv(ws) == {"type": "alert", "text": "slow"}
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(manager.broadcast(
                    {"type": "event", "data": {"session_id": "s2", "operation_name": "x"}}), server_loop))
                assert (await recv(all_ws))["data"]["session_id"] == "s2"

                # a client leaving is disconnected (its endpoint's finally calls disconnect)
                await s1_ws.close()
                await asyncio.to_thread(wait_until, lambda: broadcaster.get_stats()["active_connections"] == 2)
                assert ids[1] not in broadcaster.get_stats()["connection_ids"]

                # recorded events reach the connections while enabled (the writer started after them)
                config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"),
                                                             flush_interval_seconds=0.05),
                                       spill_dir=str(tmp_path / "spill"))
                await llamonitor.initialize_monitoring(config)

                @llamonitor.monitor_llm(operation_name="recorded", operation_type="tool")
                def recorded() -> str:
                    raise ValueError("nope")

                with llamonitor.monitoring_session("s9"), pytest.raises(ValueError):
                    recorded()
                await llamonitor.flush_monitoring()
                (live,) = await events_of(all_ws, 1)
                assert (live["operation_name"], live["session_id"], live["error_type"]) == ("recorded", "s9",
                                                                                            "ValueError")
                (live_err,) = await events_of(tool_errors_ws, 1)
                assert live_err["event_id"] == live["event_id"]

                # disable: neither the writer's events nor broadcast_event reach them any more
                broadcaster.disable()
                await asyncio.to_thread(recorded_quietly, recorded)
                await broadcaster.broadcast_event(seed_event("quiet", "s1"))
                broadcaster.enable()
                await broadcaster.broadcast_event(seed_event("loud", "s1"))
                (next_one,) = await events_of(all_ws, 1)
                assert next_one["operation_name"] == "loud"

        asyncio.run(scenario())
    wait_until(lambda: broadcaster.get_stats()["active_connections"] == 0)


def recorded_quietly(fn: Any) -> None:
    with pytest.raises(ValueError):
        fn()
    llamonitor.flush_sync()


def test_broadcaster_follows_the_writers_websocket_setting(tmp_path: Path) -> None:
    from llmops_monitoring.streaming import EventBroadcaster

    broadcaster = EventBroadcaster.get_instance()
    assert broadcaster.enabled is False  # no writer
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path / "data")),
                           spill_dir=str(tmp_path / "spill"))
    llamonitor.initialize_monitoring_sync(config)
    assert broadcaster.enabled is False  # the seed enabled it only for extensions["websocket"]
    config.extensions["websocket"] = WebSocketConfig(enabled=True).model_dump()
    llamonitor.initialize_monitoring_sync(config)
    assert broadcaster.enabled is True
    broadcaster.disable()  # an explicit choice wins
    assert broadcaster.enabled is False


def test_broadcast_reaches_the_api_servers_streams_with_their_filters(tmp_path: Path) -> None:
    from llamonitor.api import create_api_server
    from llmops_monitoring.streaming import EventBroadcaster

    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path / "data")),
                           spill_dir=str(tmp_path / "spill"))
    broadcaster = EventBroadcaster.get_instance()
    broadcaster.enable()
    with uvicorn_app(create_api_server(config)) as (base, _loop):
        async def scenario() -> None:
            async with connect(f"{base}/api/v1/stream") as all_ws, \
                    connect(f"{base}/api/v1/stream/sessions/s1") as s1_ws, \
                    connect(f"{base}/api/v1/stream/operations/search") as search_ws:
                await asyncio.to_thread(wait_until, lambda: broadcaster.get_stats()["api_connections"] == 3)
                stats = broadcaster.get_stats()
                assert stats["active_connections"] == 3 and stats["filtered_connections"] == 2
                await broadcaster.broadcast_events([seed_event("answer", "s1"), seed_event("search", "s2")])
                assert [e["operation_name"] for e in await events_of(all_ws, 2)] == ["answer", "search"]
                (s1,) = await events_of(s1_ws, 1)
                assert (s1["operation_name"], s1["session_id"]) == ("answer", "s1")
                (search,) = await events_of(search_ws, 1)
                assert (search["operation_name"], search["session_id"]) == ("search", "s2")

        asyncio.run(scenario())


def test_llamonitor_serve_streams_what_a_seed_writer_records(tmp_path: Path) -> None:
    """``llamonitor serve`` in another process: a client of a session's stream receives the
    events the seed's ``writer.write_event`` recorded for that session, and only those."""
    from llmops_monitoring import MonitoringWriter
    from testkits.serve import serve

    with serve(tmp_path) as base:
        ws_base = base.replace("http://", "ws://")

        async def scenario() -> None:
            async with connect(f"{ws_base}api/v1/stream/sessions/s-live") as ws:
                config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"),
                                                             flush_interval_seconds=0.05),
                                       spill_dir=str(tmp_path / "spill"))
                writer = await MonitoringWriter.get_instance(config)
                await writer.write_event(seed_event("elsewhere", "s-other"))
                await writer.write_event(seed_event("mine", "s-live"))
                await llamonitor.flush_monitoring()
                (got,) = await events_of(ws, 1)
                assert (got["operation_name"], got["session_id"], got["duration_ms"]) == ("mine", "s-live", 12.5)

        asyncio.run(scenario())
