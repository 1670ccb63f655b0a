"""Fixtures: CrewAI offline (telemetry off, isolated HOME), the fake provider, in-memory monitoring."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("OPENAI_API_KEY", "test")
os.environ["HOME"] = os.environ.get("LLAMONITOR_TEST_HOME") or tempfile.mkdtemp(prefix="llamonitor-crewai-home-")

import pytest
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_crewai import instrument_crewai, uninstrument_crewai


@pytest.fixture
def crewai_instrumented() -> Iterator[None]:
    instrument_crewai()
    yield
    uninstrument_crewai()
