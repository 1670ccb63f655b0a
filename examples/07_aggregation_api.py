"""Aggregation API: the REST routes over stored events.

Shows: recording a few sessions, serving them with ``create_api_server`` (uvicorn in a
background thread on a free loopback port; in real life ``run_api_server(config, port=8080)``
or ``llamonitor serve``) and querying ``/api/v1/metrics/*`` and ``/api/v1/events`` with httpx.

Run: ``uv run python examples/07_aggregation_api.py``
"""

import asyncio
import socket
import tempfile
import threading
import time

import httpx
import uvicorn
from llamonitor import (
    MonitorConfig,
    StorageConfig,
    initialize_monitoring,
    monitor_llm,
    monitoring_session,
    shutdown_monitoring,
)
from llamonitor.api import create_api_server


@monitor_llm("chat", measure_text=True, measurement="token", collectors=["cost"],
             custom_attributes={"model": "gpt-4o-mini"})
async def chat(message: str) -> str:
    if message == "crash":
        raise ConnectionError("provider unreachable")
    return f"echo: {message}"


def start_server(config: MonitorConfig) -> tuple[uvicorn.Server, threading.Thread, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_api_server(config), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


async def main(data_dir: str) -> None:
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir))
    await initialize_monitoring(config)
    for user in ["alice", "bob", "carol"]:
        with monitoring_session(user):
            for message in ["hi", "how are you?", "crash"]:
                try:
                    await chat(message)
                except ConnectionError:
                    pass
    await shutdown_monitoring()

    server, thread, base = start_server(config)
    try:
        async with httpx.AsyncClient(base_url=base) as api:
            summary = (await api.get("/api/v1/metrics/summary")).json()
            print(f"summary: {summary['total_events']} events, {summary['errors']} errors, "
                  f"{summary['sessions']} sessions, cost ${summary['total_cost_usd']:.6f}")
            for op in (await api.get("/api/v1/metrics/operations")).json()["operations"]:
                print(f"  operation {op['key']}: {op['events']} events, error rate {op['error_rate']:.2f}")
            errors = (await api.get("/api/v1/events", params={"errors_only": "true", "limit": 2})).json()
            print(f"first error page: {errors['count']} events, next_cursor={errors['next_cursor'] is not None}")
    finally:
        server.should_exit = True
        thread.join()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
