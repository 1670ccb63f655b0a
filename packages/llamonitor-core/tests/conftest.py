"""Shared fixtures: a clean monitoring state per test and in-process test sinks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor.backends.registry import register_backend, unregister_backend
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.testing import InMemoryBackend


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    yield
    llamonitor.shutdown_sync(timeout=30)


@pytest.fixture
def memory_sink() -> Iterator[InMemoryBackend]:
    sink = InMemoryBackend()
    register_backend("memory", lambda cfg: sink)
    yield sink
    unregister_backend("memory")


def build_config(tmp_path: Path, **overrides: Any) -> MonitorConfig:
    """A config writing under ``tmp_path`` with fast flushes and retries."""
    storage = dict(backend="parquet", output_dir=str(tmp_path / "data"), flush_interval_seconds=0.05)
    storage.update(overrides.pop("storage", {}))
    base: dict[str, Any] = dict(storage=StorageConfig(**storage), spill_dir=str(tmp_path / "spill"),
                                retry_backoff_seconds=0.01, circuit_open_seconds=0.05)
    base.update(overrides)
    return MonitorConfig(**base)


@pytest.fixture
def memory_config(tmp_path: Path, memory_sink: InMemoryBackend) -> MonitorConfig:
    return build_config(tmp_path, storage={"backend": "memory"})


@pytest.fixture
def make_config() -> Callable[..., MonitorConfig]:
    return build_config
