"""Fixtures: the fake provider, in-memory monitoring and OpenAI clients pointed at the fake."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_openai import instrument_openai, uninstrument_openai


@pytest.fixture
def instrumented() -> Iterator[None]:
    instrument_openai()
    yield
    uninstrument_openai()


@pytest.fixture
def client(fake_provider: FakeProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="test", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(fake_provider: FakeProvider) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake_provider.openai_base_url, api_key="test", max_retries=0) as c:
        yield c
