"""Fixtures: the fake provider, in-memory monitoring and smolagents instrumented (the root conftest guards the
network: loopback only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_smolagents import instrument_smolagents, uninstrument_smolagents


@pytest.fixture
def smol_instrumented() -> Iterator[None]:
    instrument_smolagents()
    yield
    uninstrument_smolagents()
