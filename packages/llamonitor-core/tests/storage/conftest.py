"""Fixtures of the storage suite: one config per backend on real servers, each test its own table.

PostgreSQL (``test`` database, user ``postgres``, trust) and MariaDB (``test``, root, no
password) run on 127.0.0.1 (``.ci/services/*.sh`` start them); ClickHouse runs in-process on
chDB. Every test gets a fresh schema / table / database name and drops it afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from llamonitor.schema.config import StorageConfig
from testkits.storage import BACKENDS, SERVER_BACKENDS, drop, server_config, unique_name


@pytest.fixture(params=BACKENDS)
def storage_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageConfig]:
    """One fresh destination per backend."""
    backend: str = request.param
    if backend == "parquet":
        yield StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"))
        return
    config = server_config(backend, unique_name())
    try:
        yield config
    finally:
        asyncio.run(drop(config))


@pytest.fixture(params=SERVER_BACKENDS)
def server_storage(request: pytest.FixtureRequest) -> Iterator[StorageConfig]:
    """One fresh destination per server backend."""
    config = server_config(request.param, unique_name())
    try:
        yield config
    finally:
        asyncio.run(drop(config))
