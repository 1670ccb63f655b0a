"""pytest fixtures for testing LLM code against the fake provider with monitoring in memory.

Import them in a ``conftest.py``::

    from llamonitor.testing.pytest_fixtures import fake_provider, fake_provider_server, memory_monitoring  # noqa

``fake_provider`` is a :class:`~llamonitor.testing.fake_provider.FakeProvider` shared by the
session (one loopback port) and reset before each test (no queued replies, empty request log).
``memory_monitoring`` initialises llamonitor with an :class:`InMemoryBackend` and shuts it down
afterwards; call ``memory_monitoring.flush()`` to get the events recorded so far.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from llamonitor.testing import InMemoryBackend
from llamonitor.testing.fake_provider import FakeProvider

__all__ = ["MemoryMonitoring", "fake_provider", "fake_provider_server", "memory_monitoring"]


@pytest.fixture(scope="session")
def fake_provider_server() -> Iterator[FakeProvider]:
    """One fake provider for the whole session."""
    with FakeProvider() as server:
        yield server


@pytest.fixture
def fake_provider(fake_provider_server: FakeProvider) -> Iterator[FakeProvider]:
    """The session's fake provider, reset for this test."""
    fake_provider_server.reset()
    yield fake_provider_server
    fake_provider_server.reset()


class MemoryMonitoring:
    """Monitoring writing into :attr:`backend` (an :class:`InMemoryBackend`)."""

    def __init__(self, backend: InMemoryBackend) -> None:
        self.backend = backend

    def flush(self, timeout: float = 10.0) -> list[Any]:
        """Flush and return every event written so far."""
        import llamonitor

        llamonitor.flush_sync(timeout)
        return list(self.backend.events)

    def clear(self) -> None:
        """Forget the events written so far."""
        self.backend.clear()


@pytest.fixture
def memory_monitoring(request: pytest.FixtureRequest) -> Iterator[MemoryMonitoring]:
    """Initialise monitoring into memory; ``@pytest.mark.monitor_config(capture_content=True)``
    passes extra ``MonitorConfig`` fields."""
    import llamonitor
    from llamonitor.backends.registry import register_backend, unregister_backend
    from llamonitor.schema.config import MonitorConfig, StorageConfig

    backend = InMemoryBackend()
    name = "memory_fixture"
    register_backend(name, lambda cfg: backend)
    marker = request.node.get_closest_marker("monitor_config")
    overrides: dict[str, Any] = dict(marker.kwargs) if marker else {}
    with tempfile.TemporaryDirectory() as spill:
        config = MonitorConfig(storage=StorageConfig(backend=name, flush_interval_seconds=0.05), spill_dir=spill,
                               retry_backoff_seconds=0.01, **overrides)
        llamonitor.initialize_monitoring_sync(config)
        try:
            yield MemoryMonitoring(backend)
        finally:
            llamonitor.shutdown_sync(timeout=30)
            unregister_backend(name)
