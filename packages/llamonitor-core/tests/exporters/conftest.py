"""Fixtures of the exporter tests (helpers live in ``exporter_kit``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from testkits.exporters import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()
