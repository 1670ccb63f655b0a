"""GraphQL queries: ``summary``, ``operations``, ``events(filter:)`` and ``sessions`` at ``/graphql``.

Shows: recording a few calls, serving them with the API server (background thread, free loopback
port) and posting GraphQL queries with httpx. In a browser, ``/graphql`` opens GraphiQL.

Run: ``uv run python examples/10_graphql_queries.py``
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

QUERY = """
query {
  summary { totalEvents totalCost_usd errorRate p95DurationMs sessions }
  operations { operationName count p95DurationMs }
  events(filter: { limit: 3, errorOnly: false }) {
    operationName durationMs textMetrics { charCount wordCount inputTokens outputTokens } cost { totalCostUsd }
  }
  sessions(limit: 5) { sessionId events }
}
"""


@monitor_llm("translate", measure_text=True, measurement="hybrid", collectors=["cost"],
             custom_attributes={"model": "gpt-4o"})
async def translate(text: str) -> str:
    return f"[fr] {text}"


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
    for session in ["s-1", "s-2"]:
        with monitoring_session(session):
            for text in ["good morning", "see you tomorrow at the station"]:
                await translate(text)
    await shutdown_monitoring()

    server, thread, base = start_server(config)
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            data = (await client.post("/graphql", json={"query": QUERY})).json()["data"]
    finally:
        server.should_exit = True
        thread.join()
    s = data["summary"]
    print(f"summary: {s['totalEvents']} events, {s['sessions']} sessions, cost ${s['totalCost_usd']:.6f}")
    for op in data["operations"]:
        print(f"operation {op['operationName']}: {op['count']} calls")
    for e in data["events"]:
        tm = e["textMetrics"]
        print(f"event {e['operationName']}: {tm['charCount']} chars, "
              f"{tm['inputTokens']}+{tm['outputTokens']} tokens, ${e['cost']['totalCostUsd']:.6f}")
    print(f"sessions: {sorted(x['sessionId'] for x in data['sessions'])}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
