"""Fixtures: the fake provider, in-memory monitoring, a ChatOpenAI pointed at the fake."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

from collections.abc import Iterator

import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_langchain import LlamonitorCallbackHandler


@pytest.fixture
def handler() -> LlamonitorCallbackHandler:
    return LlamonitorCallbackHandler()


@pytest.fixture
def chat(fake_provider: FakeProvider) -> Iterator[object]:
    yield make_chat(fake_provider)


def make_chat(fake: FakeProvider, **kwargs: object) -> object:
    """A ChatOpenAI on the fake provider with its own async HTTP client (langchain-openai caches a
    default one across event loops, which breaks when each test has its own loop)."""
    import httpx
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test",  # type: ignore[arg-type]
                      max_retries=0, http_async_client=httpx.AsyncClient(), **kwargs)
