"""WebSocket streaming: watch events live as the application records them.

Shows: the API server running in the monitored process (so the stream carries this process's
events), a client subscribed to ``/api/v1/stream`` and one to a single operation's stream;
each message is ``{"type": "event", "data": {...}}``.

Run: ``uv run python examples/08_websocket_streaming.py``
"""

import asyncio
import json
import socket
import tempfile
import threading
import time

import uvicorn
import websockets
from llamonitor import (
    MonitorConfig,
    StorageConfig,
    flush_monitoring,
    initialize_monitoring,
    monitor_llm,
    shutdown_monitoring,
)
from llamonitor.api import create_api_server


@monitor_llm("plan", operation_type="agent_step")
async def plan(goal: str) -> str:
    return f"steps for {goal}"


@monitor_llm("act", operation_type="tool_call")
async def act(step: str) -> str:
    return "done"


def start_server(config: MonitorConfig) -> tuple[uvicorn.Server, threading.Thread, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_api_server(config), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, port


async def receive(ws, count: int) -> list[dict]:
    return [json.loads(await asyncio.wait_for(ws.recv(), timeout=10)) for _ in range(count)]


async def main(data_dir: str) -> None:
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir))
    await initialize_monitoring(config)
    server, thread, port = start_server(config)
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/stream") as everything, \
                websockets.connect(f"ws://127.0.0.1:{port}/api/v1/stream/operations/act") as acts:
            await asyncio.sleep(0.2)  # let both subscriptions register
            await plan("ship the release")
            for step in ["build", "test", "publish"]:
                await act(step)
            await flush_monitoring()  # the writer hands each batch to the server as it builds it

            for message in await receive(everything, 4):
                data = message["data"]
                print(f"stream: {message['type']} {data['operation_name']} {data['duration_ms']:.3f} ms")
            print(f"received {len(await receive(acts, 3))} events on /api/v1/stream/operations/act")
    finally:
        server.should_exit = True
        thread.join()
        await shutdown_monitoring()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
