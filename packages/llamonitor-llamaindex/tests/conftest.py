"""Fixtures: the fake provider, in-memory monitoring, LlamaIndex instrumented, an OpenAI LLM on the fake."""

# ruff: noqa: F811  (fixture parameters share the imported fixtures' names)
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_llamaindex import instrument_llamaindex, uninstrument_llamaindex


@pytest.fixture
def instrumented() -> Iterator[None]:
    instrument_llamaindex()
    yield
    uninstrument_llamaindex()


@pytest.fixture
def llm(fake_provider: FakeProvider) -> Any:
    from llama_index.llms.openai import OpenAI

    return OpenAI(model="gpt-4o-mini", api_base=fake_provider.openai_base_url, api_key="test", max_retries=0,
                  additional_kwargs={"stream_options": {"include_usage": True}})
