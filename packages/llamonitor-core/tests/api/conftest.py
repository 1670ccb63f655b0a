"""Fixtures of the API suite: stored events on Parquet and PostgreSQL (a fresh schema each, dropped after)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from llamonitor.api import create_api_server
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.schema.events import MetricEvent
from testkits.storage import drop, make_events, server_config, store, unique_name

N_EVENTS = 300


@pytest.fixture(scope="module")
def stored_events() -> list[MetricEvent]:
    return make_events(N_EVENTS, sessions=5, days=3)


@pytest.fixture(params=["parquet", "postgres"], scope="module")
def stored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           stored_events: list[MetricEvent]) -> Iterator[StorageConfig]:
    """A destination holding ``stored_events``."""
    if request.param == "parquet":
        config = StorageConfig(backend="parquet", output_dir=str(tmp_path_factory.mktemp("api") / "data"))
        asyncio.run(store(config, stored_events))
        yield config
        return
    config = server_config("postgres", unique_name())
    asyncio.run(store(config, stored_events))
    try:
        yield config
    finally:
        asyncio.run(drop(config))


@pytest.fixture(scope="module")
def client(stored: StorageConfig) -> Iterator[TestClient]:
    app = create_api_server(MonitorConfig(storage=stored))
    with TestClient(app) as c:
        yield c


def get_ok(client: TestClient, url: str, **params: Any) -> Any:
    resp = client.get(url, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()
