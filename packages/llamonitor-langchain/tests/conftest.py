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
from testkits.langgraph import make_chat


@pytest.fixture
def handler() -> LlamonitorCallbackHandler:
    return LlamonitorCallbackHandler()


@pytest.fixture
def chat(fake_provider: FakeProvider) -> Iterator[object]:
    yield make_chat(fake_provider)
