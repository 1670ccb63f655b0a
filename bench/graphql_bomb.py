"""Time the issue-17 GraphQL bomb (300 aliases of events(filter:{limit:10000})) and a deep
introspection query against a Parquet store of N events; prints milliseconds per refusal.

    uv run python bench/graphql_bomb.py [N_EVENTS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from llamonitor.api import create_api_server
from llamonitor.schema.config import MonitorConfig, StorageConfig
from testkits.storage import make_events, store


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        config = StorageConfig(backend="parquet", output_dir=str(Path(tmp) / "data"))
        asyncio.run(store(config, make_events(n, sessions=50, days=3)))
        bombs = {
            "300 aliases x events(limit:10000)": "{" + " ".join(
                f"a{i}: events(filter:{{limit:10000}}) {{ eventId }}" for i in range(300)) + "}",
            "25 aliases x summary": "{" + " ".join(f"a{i}: summary {{ totalEvents }}" for i in range(25)) + "}",
            "6 x events(limit:10000) (row budget)": "{" + " ".join(
                f"a{i}: events(filter:{{limit:10000}}) {{ eventId }}" for i in range(6)) + "}",
            "introspection nested 13 deep": "{ __schema { types { fields { type { ofType { ofType { ofType { ofType "
                                            "{ ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }",
        }
        with TestClient(create_api_server(MonitorConfig(storage=config)), base_url="http://127.0.0.1") as client:
            client.get("/api/health")
            for name, query in bombs.items():
                began = time.perf_counter()
                resp = client.post("/graphql", json={"query": query})
                ms = (time.perf_counter() - began) * 1000
                code = resp.json()["errors"][0]["extensions"]["code"]
                print(f"{name:40s} {ms:8.1f} ms  {len(resp.content):6d} bytes  {code}")


if __name__ == "__main__":
    main()
