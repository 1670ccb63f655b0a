"""Fixtures: PydanticAI against the fake provider, monitoring in memory, the adapter on for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_pydantic_ai import instrument_pydantic_ai, uninstrument_pydantic_ai


@pytest.fixture
def pydantic_ai_instrumented() -> Iterator[None]:
    instrument_pydantic_ai()
    yield
    uninstrument_pydantic_ai()
