"""Fixtures: the fake provider, in-memory monitoring, AutoGen instrumentation."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

os.environ.setdefault("AUTOGEN_USE_DOCKER", "False")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ["HOME"] = tempfile.mkdtemp(prefix="llamonitor-autogen-home-")

import pytest
from llamonitor.testing.pytest_fixtures import (  # noqa: F401  (fixtures)
    fake_provider,
    fake_provider_server,
    memory_monitoring,
)
from llamonitor_autogen import instrument_autogen, uninstrument_autogen


@pytest.fixture
def autogen_instrumented() -> Iterator[None]:
    instrument_autogen(agentchat=True, ag2=False)
    yield
    uninstrument_autogen()


@pytest.fixture
def ag2_instrumented() -> Iterator[None]:
    instrument_autogen(agentchat=False, ag2=True)
    yield
    uninstrument_autogen()
