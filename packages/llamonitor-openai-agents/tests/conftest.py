"""Fixtures: the Agents SDK offline (no export to the OpenAI platform), the fake provider, in-memory monitoring."""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("OPENAI_API_KEY", "test")
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "0")

import pytest
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_openai_agents import instrument_openai_agents, uninstrument_openai_agents


@pytest.fixture
def agents_instrumented() -> Iterator[None]:
    from agents.tracing import get_trace_provider

    # Only our processor: the SDK's default exporter would try to reach api.openai.com.
    get_trace_provider().set_processors([])
    instrument_openai_agents()
    yield
    uninstrument_openai_agents()
