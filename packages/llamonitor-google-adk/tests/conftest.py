"""Fixtures: ADK offline (Gemini pointed at the fake provider), in-memory monitoring, the adapter on."""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("GOOGLE_API_KEY", "test")  # google-genai refuses to build a client without a key
os.environ.pop("GOOGLE_GENAI_USE_VERTEXAI", None)

import pytest
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_google_adk import instrument_google_adk, uninstrument_google_adk


@pytest.fixture
def adk_instrumented() -> Iterator[None]:
    instrument_google_adk()
    yield
    uninstrument_google_adk()
