"""Fixtures: the fake provider, in-memory monitoring and Anthropic clients pointed at the fake."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anthropic
import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_anthropic import instrument_anthropic, uninstrument_anthropic


@pytest.fixture
def instrumented() -> Iterator[None]:
    instrument_anthropic()
    yield
    uninstrument_anthropic()


@pytest.fixture
def client(fake_provider: FakeProvider) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake_provider.anthropic_base_url, api_key="test", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(fake_provider: FakeProvider) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=fake_provider.anthropic_base_url, api_key="test",
                                        max_retries=0) as c:
        yield c
