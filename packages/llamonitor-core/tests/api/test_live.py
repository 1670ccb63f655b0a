"""Live feed: WebSocket streams and the GraphQL ``eventStream`` receive events of a decorated call."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from fastapi.testclient import TestClient
from llamonitor import monitor_llm
from llamonitor.api import LiveHub, create_api_server
from llamonitor.schema.config import MonitorConfig, StorageConfig, WebSocketConfig
from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.timeout(60)


@monitor_llm(operation_name="my_operation")
def my_operation(prompt: str) -> str:
    return prompt.upper()


@monitor_llm(operation_name="other_operation")
def other_operation(prompt: str) -> str:
    return prompt


def live_config(tmp_path: Path, **ws: Any) -> MonitorConfig:
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"),
                                                 flush_interval_seconds=0.05),
                           spill_dir=str(tmp_path / "spill"))
    config.extensions["websocket"] = WebSocketConfig(enabled=True, **ws).model_dump()
    return config


@pytest.fixture
def live(tmp_path: Path) -> Iterator[TestClient]:
    config = live_config(tmp_path)
    llamonitor.initialize_monitoring_sync(config)
    with TestClient(create_api_server(config)) as client:
        yield client


def test_stream_receives_a_decorated_call(live: TestClient) -> None:
    with live.websocket_connect("/api/v1/stream") as ws, \
            live.websocket_connect("/api/v1/stream/operations/my_operation") as ws_op:
        other_operation("skip me")
        my_operation("hello")
        llamonitor.flush_sync()
        first = ws.receive_json()
        assert first["type"] == "event" and first["data"]["operation_name"] == "other_operation"
        assert ws.receive_json()["data"]["operation_name"] == "my_operation"
        only = ws_op.receive_json()
        assert only["data"]["operation_name"] == "my_operation" and only["data"]["duration_ms"] >= 0


def test_session_stream_filters(live: TestClient) -> None:
    with live.websocket_connect("/api/v1/stream/sessions/s-42") as ws:
        my_operation("outside")
        with llamonitor.monitoring_session("s-42"):
            my_operation("inside")
        llamonitor.flush_sync()
        msg = ws.receive_json()
        assert msg["data"]["session_id"] == "s-42"


def _wait_clients(client: TestClient, n: int) -> None:
    hub = client.app.state.llamonitor.hub  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while len(hub.subscribers) < n:
        assert time.monotonic() < deadline, "subscription never registered"
        time.sleep(0.01)


def test_graphql_event_stream_subscription(live: TestClient) -> None:
    query = 'subscription { eventStream(operationName: "my_operation") { eventId operationName timestamp } }'
    with live.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        _wait_clients(live, 1)
        other_operation("x")
        my_operation("y")
        llamonitor.flush_sync()
        msg = ws.receive_json()
        assert msg["type"] == "next", msg
        got = msg["payload"]["data"]["eventStream"]
        assert got["operationName"] == "my_operation" and got["eventId"] and got["timestamp"]
        ws.send_json({"id": "1", "type": "complete"})


def test_max_connections_refuses_with_a_close_code(tmp_path: Path) -> None:
    config = live_config(tmp_path, max_connections=1)
    with TestClient(create_api_server(config)) as client, client.websocket_connect("/api/v1/stream"):
        with client.websocket_connect("/api/v1/stream") as second, pytest.raises(WebSocketDisconnect) as info:
            second.receive_json()
        assert info.value.code == 1013


def _events(n: int) -> list[Any]:
    from llamonitor.schema.events import MetricEvent

    return [MetricEvent(event_id=f"e{i}", session_id="s", trace_id="t", span_id=f"sp{i}",
                        operation_name="op", start_time_ns=i, end_time_ns=i + 1, duration_ms=0.0)
            for i in range(n)]


def test_a_slow_client_gets_coalesced_batches_and_never_blocks_the_writer() -> None:
    async def run() -> None:
        hub = LiveHub(max_connections=5, queue_size=10)
        hub.bind_loop(asyncio.get_running_loop())
        slow = hub.subscribe()
        fast = hub.subscribe()
        events = _events(50)
        got: list[str] = []

        async def consume() -> None:
            async for event, _text in hub.stream(fast):
                got.append(event.event_id)
                if len(got) == 50:
                    return

        task = asyncio.create_task(consume())
        t0 = time.perf_counter()
        for i in range(0, 50, 5):  # the writer thread's view: on_batch returns at once
            await asyncio.to_thread(hub.on_batch, events[i:i + 5])
            await asyncio.sleep(0)
        assert time.perf_counter() - t0 < 2
        await asyncio.wait_for(task, 5)
        assert got == [e.event_id for e in events]
        # the slow client fell behind: it is kept, and what overflowed its queue comes as one batch
        assert not slow.dropped and slow in hub.subscribers and hub.dropped_clients == 0
        messages = []
        async for text in hub.messages(slow):
            messages.append(json.loads(text))
            if sum(len(m["data"]) if m["type"] == "batch" else 1 for m in messages) == 50:
                break
        ids = [d["event_id"] for m in messages for d in (m["data"] if m["type"] == "batch" else [m["data"]])]
        assert ids == [e.event_id for e in events]
        assert [m["type"] for m in messages].count("batch") == 1 and len(messages) < 50

    asyncio.run(run())


def test_a_client_whose_backlog_overflows_too_is_dropped() -> None:
    async def run() -> None:
        hub = LiveHub(max_connections=5, queue_size=10, backlog_limit=20)
        hub.bind_loop(asyncio.get_running_loop())
        dead = hub.subscribe()
        hub.dispatch(_events(50))
        assert dead.dropped and dead not in hub.subscribers and hub.dropped_clients == 1
        assert [item async for item in hub.stream(dead)] == []  # its stream has ended

    asyncio.run(run())


def test_seed_websockets_client_over_a_real_socket(tmp_path: Path) -> None:
    """The seed README's ``websockets`` client against uvicorn on a loopback port."""
    import json
    import socket
    import threading

    import uvicorn
    import websockets

    config = live_config(tmp_path)
    llamonitor.initialize_monitoring_sync(config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_api_server(config), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)

        async def listen() -> dict[str, Any]:
            async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/stream") as websocket:
                await asyncio.to_thread(my_operation, "over the wire")
                await asyncio.to_thread(llamonitor.flush_sync)
                message = await asyncio.wait_for(websocket.recv(), 10)
                event: dict[str, Any] = json.loads(message)
                return event

        event = asyncio.run(listen())
        assert event["data"]["operation_name"] == "my_operation"
    finally:
        server.should_exit = True
        thread.join(20)
